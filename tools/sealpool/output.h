// sealpool's output: images as human text and as JSON (the shapes of docs/cli.md, "JSON
// output"), and the one-line messages for gRPC failures.
#ifndef SEALPOOL_TOOLS_SEALPOOL_OUTPUT_H_
#define SEALPOOL_TOOLS_SEALPOOL_OUTPUT_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sealpool/pool/v1/types.pb.h"
#include "tools/common/grpc_status.h"
#include "tools/common/json_writer.h"

namespace sealpool::tools::client {

// "2026-11-23T09:12:03Z" (seconds); "" for 0.
std::string FormatMicros(int64_t unix_micros);
// "OK", "NOT_FOUND", ...
using common::StatusCodeName;

// Writes `image` as a JSON object into `json`.
void ImageJson(const pool::v1::Image& image, JsonWriter& json);
// Key: value lines (stat).
std::string FormatImage(const pool::v1::Image& image);
// A table: LSU NAME SIZE CREATED RETAIN-UNTIL LABELS.
std::string FormatImageTable(const std::vector<pool::v1::Image>& images);

// The one-line explanation of a failed call to sealpoold at `server`, without gRPC's
// internals: the connection failures (refused, TLS handshake, broken) get a sentence of their
// own, a status sealpoold sent is "CODE: message".
std::string DescribeFailure(const grpc::Status& status, const std::string& server);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_OUTPUT_H_
