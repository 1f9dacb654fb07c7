// ZMQ multipart messages from the network: split the input into up to 4 frames and parse.
#include "chain/zmq_message.h"
#include "primitives/block.h"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    // First byte: number of frames; then each frame is a 1-byte length-capped chunk, the last takes the rest.
    if (size < 1) return 0;
    const size_t nframes = data[0] % 5;
    std::vector<ByteSpan> frames;
    size_t pos = 1;
    for (size_t i = 0; i < nframes; ++i) {
        if (i + 1 == nframes) {
            frames.emplace_back(data + pos, size - pos);
            pos = size;
            break;
        }
        if (pos >= size) break;
        const size_t len = std::min<size_t>(data[pos++], size - pos);
        frames.emplace_back(data + pos, len);
        pos += len;
    }
    auto m = chain::ParseZmqMessage(frames);
    if (m) {
        // Bodies are then decoded with the checked parsers; they must never crash either.
        if (m->topic == chain::ZmqTopic::RawTx) (void)DecodeTransaction(m->body);
        if (m->topic == chain::ZmqTopic::RawBlock) (void)DecodeBlock(m->body);
        chain::SequenceTracker t;
        (void)t.Observe("fuzz", m->topic, m->sequence);
        (void)t.Observe("fuzz", m->topic, m->sequence + 1);
    }
    return 0;
}
