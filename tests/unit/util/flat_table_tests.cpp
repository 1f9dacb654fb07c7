// The flat table of slot numbers behind the registry's id map and recovery groups, checked
// against std::unordered_multimap on a random sequence of inserts and erases (with the
// collisions a 32-bit tag brings, forced by hashes that share it).

#include "util/flat_table.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

namespace vw {
namespace {

TEST(flat_table_tests, FindsInsertsAndErasesLikeAMultimap)
{
    // keys[v]: the key of value v (the caller keeps the keys; the table keeps values).
    std::vector<uint64_t> keys;
    FlatTable t;
    std::unordered_multimap<uint64_t, uint32_t> ref;
    std::mt19937_64 rng{7};
    auto hash = [](uint64_t key) { return key * 0x9e3779b97f4a7c15ULL; };
    for (int step = 0; step < 20'000; ++step) {
        const uint64_t key = rng() % 3000; // repeats: several values per key
        if (rng() % 3 != 0) {
            const auto v = static_cast<uint32_t>(keys.size());
            keys.push_back(key);
            t.Insert(hash(key), v);
            ref.emplace(key, v);
        } else {
            auto it = ref.find(key);
            if (it == ref.end()) {
                EXPECT_FALSE(t.Erase(hash(key), [&](uint32_t v) { return keys[v] == key; }));
            } else {
                const uint32_t want = it->second;
                EXPECT_TRUE(t.Erase(hash(key), [&](uint32_t v) { return v == want; }));
                EXPECT_FALSE(t.Find(hash(key), [&](uint32_t v) { return v == want; }));
                ref.erase(it);
            }
        }
        ASSERT_EQ(t.size(), ref.size());
    }
    for (const auto& [key, v] : ref) {
        const uint32_t want = v;
        EXPECT_TRUE(t.Find(hash(key), [&](uint32_t x) { return x == want; })) << key;
    }
    EXPECT_FALSE(t.Find(hash(99'999), [](uint32_t) { return true; }));
}

TEST(flat_table_tests, ValuesSharingATagAreToldApartByTheCallersTest)
{
    FlatTable t;
    // One hash for all: every value shares the tag and the home slot.
    for (uint32_t v = 0; v < 100; ++v) t.Insert(42, v);
    for (uint32_t v = 0; v < 100; ++v) EXPECT_EQ(t.Find(42, [&](uint32_t x) { return x == v; }), std::optional<uint32_t>{v});
    for (uint32_t v = 0; v < 100; v += 2) EXPECT_TRUE(t.Erase(42, [&](uint32_t x) { return x == v; }));
    for (uint32_t v = 0; v < 100; ++v) EXPECT_EQ(t.Find(42, [&](uint32_t x) { return x == v; }).has_value(), v % 2 == 1) << v;
    EXPECT_EQ(t.size(), 50u);
}

TEST(flat_table_tests, ReserveMakesRoomAndTombstonesDoNotFillTheTable)
{
    FlatTable t;
    t.Reserve(1000);
    const size_t reserved = t.MemoryUsage();
    for (uint32_t v = 0; v < 1000; ++v) t.Insert(v * 0x9e3779b97f4a7c15ULL, v);
    EXPECT_EQ(t.MemoryUsage(), reserved) << "no growth within the reservation";
    // Churn: insert and erase many times more values than the table holds at once.
    for (uint32_t v = 1000; v < 200'000; ++v) {
        t.Insert(v * 0x9e3779b97f4a7c15ULL, v);
        EXPECT_TRUE(t.Erase((v - 1000) * 0x9e3779b97f4a7c15ULL, [&](uint32_t x) { return x == v - 1000; }));
    }
    EXPECT_EQ(t.size(), 1000u);
    EXPECT_LE(t.MemoryUsage(), 4 * reserved) << "tombstones are reclaimed, not grown over";
}

} // namespace
} // namespace vw
