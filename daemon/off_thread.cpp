#include "off_thread.h"

namespace vw::daemon {

boost::asio::thread_pool& HelperThread()
{
    // One thread: what runs here is rare (a large reply) and must not compete for the two or
    // so cores the answering thread, libzmq and bitcoind share.
    static boost::asio::thread_pool pool{1};
    return pool;
}

} // namespace vw::daemon
