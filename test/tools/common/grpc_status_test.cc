// The exit codes and status names every command-line tool derives from a gRPC status
// (tools/common/grpc_status.h, docs/cli.md "Exit codes"): scripts rely on these numbers.
#include "tools/common/grpc_status.h"

#include <catch2/catch.hpp>
#include <string>

#include "tools/admin/exit_codes.h"
#include "tools/kmscmd/exit_codes.h"
#include "tools/sealpool/exit_codes.h"

namespace sealpool::tools {
namespace {

struct Row {
  grpc::StatusCode code;
  const char* name;
  int kmscmd;  // also the shared mapping with DATA_LOSS left at 1
  int client;  // sealpool
  int admin;   // crcontrol, keydictutil
};

// Every status gRPC defines, with what docs/cli.md and docs/kms.md promise for it.
constexpr Row kRows[] = {
    {grpc::StatusCode::OK, "OK", 0, 0, 0},
    {grpc::StatusCode::CANCELLED, "CANCELLED", 1, 1, 1},
    {grpc::StatusCode::UNKNOWN, "UNKNOWN", 1, 1, 1},
    {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT", 2, 2, 2},
    {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 6, 6, 6},
    {grpc::StatusCode::NOT_FOUND, "NOT_FOUND", 3, 3, 3},
    {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS", 4, 4, 4},
    {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED", 5, 5, 5},
    {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 1, 1, 1},
    {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION", 4, 4, 4},
    {grpc::StatusCode::ABORTED, "ABORTED", 1, 1, 1},
    {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE", 2, 2, 2},
    {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED", 1, 1, 1},
    {grpc::StatusCode::INTERNAL, "INTERNAL", 1, 1, 1},
    {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE", 6, 6, 6},
    {grpc::StatusCode::DATA_LOSS, "DATA_LOSS", 1, 7, 7},
    {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED", 5, 5, 5},
};

TEST_CASE("grpc status: each tool's exit code and the status name for every gRPC code") {
  for (const Row& row : kRows) {
    INFO(row.name);
    CHECK(std::string(common::StatusCodeName(row.code)) == row.name);
    CHECK(common::ExitCodeFor(row.code) == row.kmscmd);
    CHECK(ExitCodeFor(row.code) == row.kmscmd);  // kmscmd's
    CHECK(client::ExitCodeFor(row.code) == row.client);
    CHECK(admin::ExitCodeFor(row.code) == row.admin);
  }
  CHECK(client::kExitDataLoss == 7);
  CHECK(admin::kExitDamage == 7);
  CHECK(kExitKms == 7);
}

TEST_CASE("grpc status: a code outside gRPC's list is named UNKNOWN and exits 1") {
  for (int raw : {17, 42, 1000, -1}) {
    auto code = static_cast<grpc::StatusCode>(raw);
    INFO(raw);
    CHECK(std::string(common::StatusCodeName(code)) == "UNKNOWN");
    CHECK(common::ExitCodeFor(code) == common::kExitError);
    CHECK(client::ExitCodeFor(code) == common::kExitError);
  }
}

}  // namespace
}  // namespace sealpool::tools
