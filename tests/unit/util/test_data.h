#pragma once
// Test helpers: files from tests/data (VW_TEST_DATA_DIR, set by tests/CMakeLists.txt) and hex
// literals. Reading fails the test loudly rather than skipping: the vectors are part of the
// project's test inputs.

#include "util/bytes.h"
#include "util/hex.h"

#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vw::test {

//! Returns: the contents of VW_TEST_DATA_DIR/rel. Throws (failing the test) if it cannot be read.
inline std::string ReadTestDataText(const std::string& rel)
{
    const std::string path = std::string(VW_TEST_DATA_DIR) + "/" + rel;
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot open test data file " + path);
    const std::streamoff size = f.tellg();
    if (size < 0) throw std::runtime_error("cannot size test data file " + path);
    std::string out(static_cast<size_t>(size), '\0');
    f.seekg(0);
    if (!f.read(out.data(), size)) throw std::runtime_error("cannot read test data file " + path);
    return out;
}

inline Bytes ReadTestDataBytes(const std::string& rel)
{
    const std::string s = ReadTestDataText(rel);
    return Bytes(s.begin(), s.end());
}

//! Returns: the bytes of a hex literal from a vector file. Throws on bad hex (a broken vector
//! must not turn into an empty input that some negative test then "rejects").
inline Bytes Unhex(std::string_view hex)
{
    auto b = ParseHex(hex);
    if (!b) throw std::runtime_error("bad hex in test input: " + std::string(hex.substr(0, 80)));
    return *b;
}

} // namespace vw::test
