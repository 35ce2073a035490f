// What taskd and taskctl share (common/): the token-file rule, applied the
// same by both, and the one table of status-code names.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "client/client.h"
#include "common/status_codes.h"
#include "common/token.h"

namespace taskd {
namespace {

std::optional<std::string> Token(std::string_view content) {
  std::string why;
  auto t = TokenFromFile(content, &why);
  if (!t) {
    EXPECT_FALSE(why.empty());
  }
  return t;
}

TEST(TokenFile, WhitespaceAroundTheTokenIsNotPartOfIt) {
  EXPECT_EQ(Token("0123456789abcdef\n"), "0123456789abcdef");
  EXPECT_EQ(Token("  \t0123456789abcdef \r\n\n"), "0123456789abcdef");
}

TEST(TokenFile, ATokenShorterThanSixteenCharactersIsRefused) {
  std::string why;
  EXPECT_FALSE(TokenFromFile("0123456789abcde\n", &why));
  EXPECT_EQ(why, "must hold a token of 16 or more characters");
  EXPECT_FALSE(TokenFromFile("", &why));
  EXPECT_FALSE(TokenFromFile(" \n\t ", &why));
}

TEST(TokenFile, SpacesAndControlOrNonAsciiBytesInsideAreRefused) {
  EXPECT_FALSE(Token("01234567 89abcdef"));
  EXPECT_FALSE(Token("01234567\t89abcdef"));
  EXPECT_FALSE(
      Token("01234567\x01"
            "89abcdef"));
  EXPECT_FALSE(Token("0123456789abcdef\xc3\xa9"));
}

TEST(TokenFile, TheClientReadsATokenFileByTheSameRule) {
  auto path =
      std::filesystem::temp_directory_path() / ("taskd-token-test-" + std::to_string(::getpid()));
  { std::ofstream(path) << "  0123456789abcdef\n"; }
  EXPECT_EQ(client::ReadTokenFile(path.string()), "0123456789abcdef");
  { std::ofstream(path) << "short\n"; }
  try {
    client::ReadTokenFile(path.string());
    ADD_FAILURE() << "a short token was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("16 or more characters"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(client::ReadTokenFile(path.string()), std::runtime_error);
}

TEST(StatusCodeNames, FollowGrpcsNumbering) {
  EXPECT_EQ(StatusCodeNameOf(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeNameOf(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
  EXPECT_EQ(StatusCodeNameOf(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusCodeNameOf(grpc::StatusCode::UNAVAILABLE), "UNAVAILABLE");
  EXPECT_EQ(StatusCodeNameOf(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeNameOf(-1), "UNKNOWN");
  EXPECT_EQ(StatusCodeNameOf(17), "UNKNOWN");
}

}  // namespace
}  // namespace taskd
