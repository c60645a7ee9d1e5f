#include "kms/audit_log.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test/kms/kms_test_env.h"

namespace sealpool::kms {
namespace {

TEST_CASE("JSON strings escape quotes, control and non-ASCII bytes", "[kms][audit]") {
  CHECK(JsonString("plain") == "\"plain\"");
  CHECK(JsonString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(JsonString("l1\nl2\t\x01") == "\"l1\\nl2\\t\\u0001\"");
  CHECK(JsonString("\xff\xc3") == "\"\\u00ff\\u00c3\"");
}

TEST_CASE("an audit line names who, what, where and the result", "[kms][audit]") {
  AuditEvent e{
      "pool-a", "storage-server", "wrap",  "pool-a",
      "kg",     "rk-1",           "kek-1", absl::FailedPreconditionError("no \"active\" key")};
  std::string line = FormatAuditLine(e, absl::FromUnixMillis(1795426080123));
  CHECK(line ==
        "{\"time\":\"2026-11-23T09:28:00.123Z\",\"peer\":\"pool-a\",\"role\":\"storage-server\","
        "\"op\":\"wrap\",\"pool\":\"pool-a\",\"group\":\"kg\",\"root_key\":\"rk-1\","
        "\"kek\":\"kek-1\",\"result\":\"FAILED_PRECONDITION\","
        "\"detail\":\"no \\\"active\\\" key\"}");
}

TEST_CASE("an intent line says STARTED and carries no detail", "[kms][audit]") {
  AuditEvent e{"ops", "admin", "create-key", "", "kg", "", "", absl::InternalError("ignored")};
  e.intent = true;
  CHECK(FormatAuditLine(e, absl::FromUnixMillis(1795426080123)) ==
        "{\"time\":\"2026-11-23T09:28:00.123Z\",\"peer\":\"ops\",\"role\":\"admin\","
        "\"op\":\"create-key\",\"pool\":\"\",\"group\":\"kg\",\"root_key\":\"\","
        "\"kek\":\"\",\"result\":\"STARTED\",\"detail\":\"\"}");
}

TEST_CASE("a record that cannot be written is an error naming the file, reported once",
          "[kms][audit]") {
  auto log = AuditLog::Open("/dev/full");
  REQUIRE(log.ok());
  std::vector<std::string> hooked;
  (*log)->SetFailureHook([&](const absl::Status& s) { hooked.push_back(s.ToString()); });
  for (int i = 0; i < 3; ++i) {
    absl::Status s = (*log)->Record({"me", "admin", "op", "", "", "", "", absl::OkStatus()});
    CHECK(s.code() == absl::StatusCode::kInternal);
    CHECK(s.message() == "cannot append to audit log /dev/full: No space left on device");
  }
  REQUIRE(hooked.size() == 1);
  AuditEvent wrap{"pool-a", "storage-server", "wrap", "pool-a", "kg", "", "k", absl::OkStatus()};
  CHECK(RecordOrRefuse(**log, wrap).message() ==
        "sealkmsd refused wrap: cannot append to audit log /dev/full: No space left on device (a "
        "key operation whose audit line cannot be written and synced is refused)");
  // A refused operation keeps its own status.
  wrap.result = absl::PermissionDeniedError("no");
  CHECK(RecordOrRefuse(**log, wrap).code() == absl::StatusCode::kPermissionDenied);
  CHECK(RecordIntent(**log, wrap).message() ==
        "sealkmsd refused wrap: cannot append to audit log /dev/full: No space left on device; "
        "nothing was changed (a key operation whose audit line cannot be written and synced is "
        "refused)");
}

TEST_CASE("the audit log appends and tails", "[kms][audit]") {
  test::TempDir dir;
  auto path = dir.path() / "audit.jsonl";
  {
    auto log = AuditLog::Open(path);
    REQUIRE(log.ok());
    for (int i = 0; i < 5; ++i) {
      std::string op = "op" + std::to_string(i);
      REQUIRE((*log)->Record({"me", "admin", op, "", "", "", "", absl::OkStatus()}).ok());
    }
  }
  auto log = AuditLog::Open(path);  // reopening appends
  REQUIRE(log.ok());
  REQUIRE((*log)->Record({"me", "admin", "op5", "", "", "", "", absl::OkStatus()}).ok());
  auto tail = (*log)->Tail(2);
  REQUIRE(tail.ok());
  REQUIRE(tail->size() == 2);
  CHECK_THAT((*tail)[0], Catch::Contains("\"op\":\"op4\""));
  CHECK_THAT((*tail)[1], Catch::Contains("\"op\":\"op5\""));
  CHECK((*log)->Tail(100)->size() == 6);
  // A log much longer than the first read window.
  for (int i = 6; i < 3000; ++i) {
    std::string op = "op" + std::to_string(i);
    REQUIRE((*log)->Record({"me", "admin", op, "", "", "", "", absl::OkStatus()}).ok());
  }
  tail = (*log)->Tail(3);
  REQUIRE(tail.ok());
  REQUIRE(tail->size() == 3);
  CHECK_THAT((*tail)[0], Catch::Contains("\"op\":\"op2997\""));
  CHECK_THAT((*tail)[2], Catch::Contains("\"op\":\"op2999\""));
  CHECK((*log)->Tail(1000)->size() == 1000);
  CHECK((*log)->Tail(5000)->size() == 3000);
}

}  // namespace
}  // namespace sealpool::kms
