#pragma once
// An open-addressing hash table of uint32 values (slot numbers into the caller's own arrays),
// 8 bytes a slot: a 32-bit tag of the key's hash and the value. The keys live with the caller,
// who passes the hash and an equality test on values, so a million vault ids cost about 11 bytes
// each (load at most 3/4) instead of a node-based map's 50. Linear probing, power-of-two size,
// tombstones on erase (reclaimed when the table grows). Not thread-safe for writers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace vw {

class FlatTable
{
public:
    //! Room for n values without growing.
    void Reserve(size_t n)
    {
        size_t cap = 16;
        while (cap * 3 < n * 4 + 4) cap *= 2;
        if (cap > m_slots.size()) Rehash(cap);
    }

    //! Returns: the first value v with this hash for which eq(v), or nullopt.
    template <typename Eq>
    std::optional<uint32_t> Find(uint64_t hash, Eq&& eq) const
    {
        if (m_slots.empty()) return std::nullopt;
        const uint32_t tag = Tag(hash);
        for (size_t i = tag & Mask();; i = (i + 1) & Mask()) {
            const Slot& s = m_slots[i];
            if (s.value == EMPTY) return std::nullopt;
            if (s.value != TOMB && s.tag == tag && eq(s.value)) return s.value;
        }
    }

    //! Adds value under hash (the caller has checked it is not there). value < 0xfffffffe.
    void Insert(uint64_t hash, uint32_t value)
    {
        if ((m_used + 1) * 4 > m_slots.size() * 3) Rehash(m_slots.empty() ? 16 : (m_live + 1) * 4 > m_slots.size() * 2 ? m_slots.size() * 2 : m_slots.size());
        Place(Tag(hash), value);
        ++m_live;
    }

    //! Removes the first value with this hash for which eq(v). Returns: whether one was there.
    template <typename Eq>
    bool Erase(uint64_t hash, Eq&& eq)
    {
        if (m_slots.empty()) return false;
        const uint32_t tag = Tag(hash);
        for (size_t i = tag & Mask();; i = (i + 1) & Mask()) {
            Slot& s = m_slots[i];
            if (s.value == EMPTY) return false;
            if (s.value != TOMB && s.tag == tag && eq(s.value)) {
                s.value = TOMB;
                --m_live;
                return true;
            }
        }
    }

    size_t size() const { return m_live; }
    size_t MemoryUsage() const { return m_slots.capacity() * sizeof(Slot); }

private:
    static constexpr uint32_t EMPTY = 0xffffffffu;
    static constexpr uint32_t TOMB = 0xfffffffeu;
    struct Slot {
        uint32_t tag;
        uint32_t value;
    };
    static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h ^ (h >> 32)); }
    size_t Mask() const { return m_slots.size() - 1; }

    void Place(uint32_t tag, uint32_t value)
    {
        for (size_t i = tag & Mask();; i = (i + 1) & Mask()) {
            Slot& s = m_slots[i];
            if (s.value == EMPTY || s.value == TOMB) {
                if (s.value == EMPTY) ++m_used;
                s = Slot{tag, value};
                return;
            }
        }
    }

    void Rehash(size_t cap)
    {
        std::vector<Slot> old;
        old.swap(m_slots);
        m_slots.assign(cap, Slot{0, EMPTY});
        m_used = 0;
        for (const Slot& s : old) {
            if (s.value != EMPTY && s.value != TOMB) Place(s.tag, s.value);
        }
    }

    std::vector<Slot> m_slots;
    size_t m_used{0}; //!< live + tombstones
    size_t m_live{0};
};

} // namespace vw
