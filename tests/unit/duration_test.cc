#include "client/duration.h"

#include <gtest/gtest.h>

namespace taskd::client {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesUnitsAndCompounds) {
  EXPECT_EQ(ParseDuration("90s"), milliseconds(90000));
  EXPECT_EQ(ParseDuration("5m"), milliseconds(300000));
  EXPECT_EQ(ParseDuration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("2"), milliseconds(2000));
}

TEST(Duration, RejectsGarbage) {
  for (const char* bad : {"", "abc", "5x", "-5s", "1h5"}) {
    EXPECT_FALSE(ParseDuration(bad)) << '"' << bad << '"';
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(FormatDuration(milliseconds(150)), "150ms");
  EXPECT_EQ(FormatDuration(milliseconds(3200)), "3.2s");
  EXPECT_EQ(FormatDuration(milliseconds(62000)), "1m2s");
  EXPECT_EQ(FormatDuration(milliseconds(3720000)), "1h2m");
}

}  // namespace
}  // namespace taskd::client
