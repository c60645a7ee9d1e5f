#include "kms/proto_convert.h"

#include "google/protobuf/unknown_field_set.h"
#include "kms/status_util.h"

namespace sealpool::kms {

v1::KeyState ToProto(RootKeyState state) {
  switch (state) {
    case RootKeyState::kPrelive:
      return v1::KEY_STATE_PRELIVE;
    case RootKeyState::kActive:
      return v1::KEY_STATE_ACTIVE;
    case RootKeyState::kInactive:
      return v1::KEY_STATE_INACTIVE;
    case RootKeyState::kDeprecated:
      return v1::KEY_STATE_DEPRECATED;
    case RootKeyState::kTerminated:
      return v1::KEY_STATE_TERMINATED;
    case RootKeyState::kCompromised:
      return v1::KEY_STATE_COMPROMISED;
  }
  return v1::KEY_STATE_UNSPECIFIED;
}

std::optional<RootKeyState> FromProtoValue(int state) {
  if (state < 1 || state > 6) return std::nullopt;
  // The proto enum values equal the domain enum values (both fixed by their formats).
  return static_cast<RootKeyState>(state);
}

std::optional<RootKeyState> FromProto(v1::KeyState state) {
  return FromProtoValue(static_cast<int>(state));
}

absl::Status RejectUnknownFields(const google::protobuf::Message& request) {
  const google::protobuf::UnknownFieldSet& unknown =
      request.GetReflection()->GetUnknownFields(request);
  if (unknown.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(Cat(request.GetDescriptor()->full_name(), " has field ",
                                        unknown.field(0).number(),
                                        ", which this sealkmsd does not know"));
}

void ToProto(const RootKeyView& view, v1::RootKeyInfo* out) {
  out->set_id(view.id);
  out->set_key_group(view.group);
  out->set_state(ToProto(view.state));
  out->set_created_unix(view.created_unix);
  out->set_state_changed_unix(view.state_changed_unix);
  out->set_registered_keks(view.registered_keks);
}

void ToProto(const GroupView& view, v1::KeyGroupInfo* out) {
  out->set_name(view.name);
  out->set_created_unix(view.created_unix);
  out->set_state(view.active_root_key_id.empty() ? v1::GROUP_STATE_NO_ACTIVE_KEY
                                                 : v1::GROUP_STATE_READY);
  out->set_active_root_key_id(view.active_root_key_id);
  out->set_key_count(view.key_count);
  out->set_registered_keks(view.registered_keks);
}

}  // namespace sealpool::kms
