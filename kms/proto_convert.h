// Conversions between kms's domain types and sealpool.kms.v1 messages.
#ifndef SEALPOOL_KMS_PROTO_CONVERT_H_
#define SEALPOOL_KMS_PROTO_CONVERT_H_

#include <optional>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "kms/key_backend.h"
#include "kms/root_key_state.h"
#include "sealpool/kms/v1/types.pb.h"

namespace sealpool::kms {

v1::KeyState ToProto(RootKeyState state);
// nullopt for UNSPECIFIED or an unknown value.
std::optional<RootKeyState> FromProto(v1::KeyState state);
// nullopt for UNSPECIFIED or an unknown value.
std::optional<RootKeyState> FromProtoValue(int state);

void ToProto(const RootKeyView& view, v1::RootKeyInfo* out);

// InvalidArgument if `request` carries fields this binary does not know (a newer client, or a
// malformed request): sealkmsd answers them rather than silently ignoring what was asked.
absl::Status RejectUnknownFields(const google::protobuf::Message& request);
void ToProto(const GroupView& view, v1::KeyGroupInfo* out);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_PROTO_CONVERT_H_
