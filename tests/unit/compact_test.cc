// The compact field types behave as the standard types they replace.
#include "core/model/compact.h"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

namespace taskd {
namespace {

TEST(CompactString, EmptyTakesNoHeapAndReadsAsEmpty) {
  CompactString s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_STREQ(s.c_str(), "");
  EXPECT_EQ(s, "");
  static_assert(sizeof(CompactString) == sizeof(void*));
}

TEST(CompactString, HoldsAnyBytesAndCopiesDeeply) {
  std::string raw("a\0b", 3);
  CompactString s = raw;
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.view(), raw);
  CompactString copy = s;
  s = "other";
  EXPECT_EQ(copy, raw);
  EXPECT_EQ(s, "other");
  s = s;  // self-assignment keeps the value
  EXPECT_EQ(s, "other");
  s = std::string_view(s).substr(1);  // assigning from its own bytes
  EXPECT_EQ(s, "ther");
  CompactString moved = std::move(copy);
  EXPECT_EQ(moved, raw);
  CompactString target = "old";
  target = std::move(moved);
  EXPECT_EQ(target, raw);
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move): left empty, as std::string
  moved = target;
  EXPECT_EQ(CompactString(static_cast<const char*>(nullptr)), "");
  s = "";
  EXPECT_TRUE(s.empty());
  std::ostringstream os;
  os << moved.view().substr(0, 1) << CompactString("z");
  EXPECT_EQ(os.str(), "az");
}

TEST(Boxed, ActsLikeOptional) {
  Boxed<std::string> b;
  EXPECT_FALSE(b);
  b = std::string("x");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, "x");
  Boxed<std::string> copy = b;
  *b = "y";
  EXPECT_EQ(*copy, "x");  // a deep copy
  b = std::nullopt;
  EXPECT_FALSE(b.has_value());
  b.emplace(3, 'z');
  EXPECT_EQ(b->size(), 3u);
  b.reset();
  EXPECT_FALSE(b);
  Boxed<int> i = std::optional<int>(7);
  EXPECT_EQ(*i, 7);
  i = std::optional<int>();
  EXPECT_FALSE(i);
}

TEST(CompactOptional, MinMeansUnsetAndConvertsToStdOptional) {
  using namespace std::chrono_literals;
  CompactOptional<std::chrono::nanoseconds> d;
  EXPECT_FALSE(d);
  d = 2h;  // converts like the duration it stands for
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, std::chrono::nanoseconds(2h));
  std::optional<std::chrono::nanoseconds> o = d;
  EXPECT_EQ(o, std::chrono::nanoseconds(2h));
  d.reset();
  EXPECT_EQ(d.value_or(1s), std::chrono::nanoseconds(1s));
  CompactOptional<std::chrono::system_clock::time_point> t = std::nullopt;
  EXPECT_FALSE(t.has_value());
  t = std::chrono::system_clock::time_point{};  // the epoch is a real value
  EXPECT_TRUE(t.has_value());
  static_assert(sizeof(t) == sizeof(std::chrono::system_clock::time_point));
}

}  // namespace
}  // namespace taskd
