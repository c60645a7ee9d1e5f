#include "kms/proto_convert.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "sealpool/kms/v1/key_service.pb.h"

namespace sealpool::kms {
namespace {

using S = RootKeyState;
constexpr S kAll[] = {S::kPrelive,    S::kActive,     S::kInactive,
                      S::kDeprecated, S::kTerminated, S::kCompromised};

TEST_CASE("root key states convert to the proto enum and back", "[kms][proto]") {
  std::set<v1::KeyState> seen;
  for (S s : kAll) {
    INFO(RootKeyStateName(s));
    v1::KeyState p = ToProto(s);
    CHECK(p != v1::KEY_STATE_UNSPECIFIED);
    CHECK(seen.insert(p).second);
    CHECK(FromProto(p) == s);
    CHECK(FromProtoValue(static_cast<int>(p)) == s);
  }
  CHECK(ToProto(S::kActive) == v1::KEY_STATE_ACTIVE);
  CHECK(ToProto(S::kCompromised) == v1::KEY_STATE_COMPROMISED);
  CHECK_FALSE(FromProto(v1::KEY_STATE_UNSPECIFIED).has_value());
  CHECK_FALSE(FromProtoValue(0).has_value());
  CHECK_FALSE(FromProtoValue(7).has_value());
  CHECK_FALSE(FromProtoValue(99).has_value());
  CHECK_FALSE(FromProtoValue(-1).has_value());
}

TEST_CASE("key and group views fill the info messages", "[kms][proto]") {
  RootKeyView key{"rk-1", "kg-a", S::kInactive, 1700000000, 1700000100, 3};
  v1::RootKeyInfo key_info;
  ToProto(key, &key_info);
  CHECK(key_info.id() == "rk-1");
  CHECK(key_info.key_group() == "kg-a");
  CHECK(key_info.state() == v1::KEY_STATE_INACTIVE);
  CHECK(key_info.created_unix() == 1700000000);
  CHECK(key_info.state_changed_unix() == 1700000100);
  CHECK(key_info.registered_keks() == 3);

  GroupView ready{"kg-a", 1700000000, "rk-1", 2, 5};
  v1::KeyGroupInfo group_info;
  ToProto(ready, &group_info);
  CHECK(group_info.name() == "kg-a");
  CHECK(group_info.created_unix() == 1700000000);
  CHECK(group_info.state() == v1::GROUP_STATE_READY);
  CHECK(group_info.active_root_key_id() == "rk-1");
  CHECK(group_info.key_count() == 2);
  CHECK(group_info.registered_keks() == 5);

  GroupView empty{"kg-b", 1700000000, "", 1, 0};
  v1::KeyGroupInfo empty_info;
  ToProto(empty, &empty_info);
  CHECK(empty_info.state() == v1::GROUP_STATE_NO_ACTIVE_KEY);
  CHECK(empty_info.active_root_key_id().empty());
}

TEST_CASE("a request with fields this binary does not know is refused", "[kms][proto]") {
  v1::GetActiveKeyRequest q;
  q.set_pool_id("pool-a");
  q.set_key_group("kg-a");
  CHECK(RejectUnknownFields(q).ok());
  q.GetReflection()->MutableUnknownFields(&q)->AddVarint(99, 1);
  absl::Status s = RejectUnknownFields(q);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("GetActiveKeyRequest") && Catch::Contains("field 99"));
}

}  // namespace
}  // namespace sealpool::kms
