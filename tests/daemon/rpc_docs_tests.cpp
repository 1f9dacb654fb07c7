#include "rpc_methods.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace vw::daemon {
namespace {

TEST(rpc_docs_tests, DocsAreGeneratedFromTheTable)
{
    std::ifstream f(std::string(VW_SOURCE_DIR) + "/docs/rpc.md");
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(ss.str(), MakeRpcTable({})->Markdown()) << "docs/rpc.md is stale: run `vaultwatchd --rpc-docs > docs/rpc.md`";
}

TEST(rpc_docs_tests, EveryMethodIsDocumented)
{
    const auto t = MakeRpcTable({});
    for (const auto& m : t->methods()) {
        EXPECT_FALSE(m.description.empty()) << m.name;
        EXPECT_FALSE(m.examples.empty()) << m.name;
        EXPECT_FALSE(m.category.empty()) << m.name;
        for (const auto& a : m.args) EXPECT_FALSE(a.doc.empty()) << m.name << " " << a.name;
        // snake_case result fields (docs/product.md §6)
        for (const auto& r : m.result) {
            for (char ch : r.name) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_') << m.name << "." << r.name;
        }
    }
}

} // namespace
} // namespace vw::daemon
