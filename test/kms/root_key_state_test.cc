#include "kms/root_key_state.h"

#include <catch2/catch.hpp>
#include <set>
#include <utility>

namespace sealpool::kms {
namespace {

using S = RootKeyState;
constexpr S kAll[] = {S::kPrelive,    S::kActive,     S::kInactive,
                      S::kDeprecated, S::kTerminated, S::kCompromised};

TEST_CASE("exactly the documented moves are allowed", "[kms][state]") {
  const std::set<std::pair<S, S>> allowed = {
      {S::kPrelive, S::kActive},         {S::kActive, S::kInactive},
      {S::kInactive, S::kActive},        {S::kInactive, S::kDeprecated},
      {S::kDeprecated, S::kTerminated},  {S::kPrelive, S::kCompromised},
      {S::kActive, S::kCompromised},     {S::kInactive, S::kCompromised},
      {S::kDeprecated, S::kCompromised}, {S::kCompromised, S::kTerminated}};
  for (S from : kAll) {
    for (S to : kAll) {
      INFO(RootKeyStateName(from) << " -> " << RootKeyStateName(to));
      absl::Status s = CheckTransition(from, to);
      if (allowed.contains({from, to})) {
        CHECK(s.ok());
      } else {
        CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
      }
    }
  }
}

TEST_CASE("what each state may do", "[kms][state]") {
  for (S s : kAll) {
    INFO(RootKeyStateName(s));
    CHECK(CheckCanWrap(s).ok() == (s == S::kActive));
    CHECK(CheckCanUnwrap(s, false).ok() == (s == S::kActive || s == S::kInactive));
    CHECK(CheckCanUnwrap(s, true).ok() ==
          (s == S::kActive || s == S::kInactive || s == S::kCompromised));
    CHECK(CheckCanDelete(s).ok() == (s == S::kPrelive || s == S::kTerminated));
    CHECK(ParseRootKeyState(RootKeyStateName(s)) == s);
  }
  CHECK_FALSE(ParseRootKeyState("retired").has_value());
  CHECK(RequiresNoUsage(S::kDeprecated));
  CHECK(RequiresNoUsage(S::kTerminated));
  CHECK_FALSE(RequiresNoUsage(S::kCompromised));
}

}  // namespace
}  // namespace sealpool::kms
