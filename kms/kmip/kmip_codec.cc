#include "kms/kmip/kmip_codec.h"

#include <utility>

#include "absl/status/status.h"
#include "kms/status_util.h"

namespace sealpool::kms::kmip {
namespace {

// KMIP 1.4 section 9.1.3.2.28 (Result Reason).
constexpr uint32_t kReasonItemNotFound = 0x01;
constexpr uint32_t kReasonAuthenticationNotSuccessful = 0x03;
constexpr uint32_t kReasonOperationNotSupported = 0x05;
constexpr uint32_t kReasonFeatureNotSupported = 0x08;
constexpr uint32_t kReasonCryptographicFailure = 0x0A;
constexpr uint32_t kReasonIllegalOperation = 0x0B;
constexpr uint32_t kReasonPermissionDenied = 0x0C;
constexpr uint32_t kReasonGeneralFailure = 0x100;

std::string_view ReasonName(int64_t r) {
  switch (r) {
    case 0x01:
      return "Item Not Found";
    case 0x02:
      return "Response Too Large";
    case 0x03:
      return "Authentication Not Successful";
    case 0x04:
      return "Invalid Message";
    case 0x05:
      return "Operation Not Supported";
    case 0x06:
      return "Missing Data";
    case 0x07:
      return "Invalid Field";
    case 0x08:
      return "Feature Not Supported";
    case 0x09:
      return "Operation Canceled By Requester";
    case 0x0A:
      return "Cryptographic Failure";
    case 0x0B:
      return "Illegal Operation";
    case 0x0C:
      return "Permission Denied";
    case 0x0D:
      return "Object Archived";
    case 0x0E:
      return "Index Out Of Bounds";
    case 0x10:
      return "Key Format Type Not Supported";
    case 0x13:
      return "Key Value Not Present";
    case 0x16:
      return "Sensitive";
    case 0x17:
      return "Not Extractable";
    case 0x18:
      return "Object Already Exists";
    case 0x100:
      return "General Failure";
    default:
      return "unknown reason";
  }
}

Item Attr(std::string_view name, Item value) {
  value.tag = tag::kAttributeValue;
  return Item::Struct(tag::kAttribute, {Item::Text(tag::kAttributeName, name), std::move(value)});
}

Item NameValue(std::string_view name) {
  return Item::Struct(
      0, {Item::Text(tag::kNameValue, name), Item::Enum(tag::kNameType, kNameTypeText)});
}

Item GcmParameters() {
  return Item::Struct(tag::kCryptographicParameters,
                      {Item::Enum(tag::kBlockCipherMode, kBlockCipherModeGcm),
                       Item::Enum(tag::kCryptographicAlgorithm, kAlgorithmAes),
                       Item::Int(tag::kTagLength, kGcmTagLength)});
}

Item Payload(std::vector<Item> children) {
  return Item::Struct(tag::kRequestPayload, std::move(children));
}

Item Version(ProtocolVersion v) {
  return Item::Struct(tag::kProtocolVersion, {Item::Int(tag::kProtocolVersionMajor, v.major),
                                              Item::Int(tag::kProtocolVersionMinor, v.minor)});
}

// Strict field access inside one response structure.
class Fields {
 public:
  Fields(const Item& s, std::string_view where) : s_(s), where_(where) {}

  absl::Status Bad(std::string_view what) const {
    return absl::InvalidArgumentError(Cat(where_, ": ", what));
  }

  // The one child with `tag`: null if absent and !required; an error if repeated, absent and
  // required, or of the wrong type.
  absl::StatusOr<const Item*> One(uint32_t t, Type type, std::string_view name,
                                  bool required) const {
    const Item* found = nullptr;
    for (const Item& c : s_.children) {
      if (c.tag != t) continue;
      if (found != nullptr) return Bad(Cat(name, " appears more than once"));
      if (c.type != type) {
        return Bad(Cat(name, " is a ", TypeName(c.type), ", not a ", TypeName(type)));
      }
      found = &c;
    }
    if (found == nullptr && required) return Bad(Cat(name, " is missing"));
    return found;
  }

  absl::StatusOr<std::vector<const Item*>> All(uint32_t t, Type type, std::string_view name) const {
    std::vector<const Item*> out;
    for (const Item& c : s_.children) {
      if (c.tag != t) continue;
      if (c.type != type) {
        return Bad(Cat(name, " is a ", TypeName(c.type), ", not a ", TypeName(type)));
      }
      out.push_back(&c);
    }
    return out;
  }

 private:
  const Item& s_;
  std::string where_;
};

std::string Where(Operation op) { return Cat("KMIP ", OperationName(op), " response"); }

absl::StatusOr<ProtocolVersion> ParseVersion(const Item& v, std::string_view where) {
  Fields f(v, where);
  SEALPOOL_ASSIGN_OR_RETURN(const Item* major, f.One(tag::kProtocolVersionMajor, Type::kInteger,
                                                     "Protocol Version Major", true));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* minor, f.One(tag::kProtocolVersionMinor, Type::kInteger,
                                                     "Protocol Version Minor", true));
  return ProtocolVersion{static_cast<int32_t>(major->number), static_cast<int32_t>(minor->number)};
}

absl::Status FailureStatus(Operation op, int64_t status, int64_t reason, std::string_view message) {
  std::string text = Cat("KMIP ", OperationName(op), " failed: ", ReasonName(reason), " (result ",
                         status, ", reason ", reason, ")");
  if (!message.empty()) text = Cat(text, ": ", message);
  switch (reason) {
    case kReasonItemNotFound:
      return absl::NotFoundError(text);
    case kReasonAuthenticationNotSuccessful:
    case kReasonPermissionDenied:
      return absl::PermissionDeniedError(text);
    case kReasonIllegalOperation:
      return absl::FailedPreconditionError(text);
    case kReasonOperationNotSupported:
    case kReasonFeatureNotSupported:
      return absl::UnimplementedError(text);
    case kReasonCryptographicFailure:
    case kReasonGeneralFailure:
      if (op == Operation::kDecrypt) return absl::DataLossError(text);
      return absl::InternalError(text);
    default:
      return absl::InternalError(text);
  }
}

// Application Specific Information carrying a sealkmsd request id.
Item RequestIdAttr(std::string_view request_id) {
  return Attr("Application Specific Information",
              Item::Struct(0, {Item::Text(tag::kApplicationNamespace, kRequestIdNamespace),
                               Item::Text(tag::kApplicationData, request_id)}));
}

absl::StatusOr<const Item*> PayloadOf(const Response& r) {
  if (!r.payload.has_value()) {
    return absl::InvalidArgumentError(Cat(Where(r.operation), ": Response Payload is missing"));
  }
  return &*r.payload;
}

absl::StatusOr<std::string> UidOf(const Item& payload, Operation op, bool required = true) {
  Fields f(payload, Where(op));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* uid, f.One(tag::kUniqueIdentifier, Type::kTextString,
                                                   "Unique Identifier", required));
  if (uid == nullptr) return std::string();
  if (uid->bytes.empty()) return f.Bad("Unique Identifier is empty");
  return std::string(uid->text());
}

absl::StatusOr<crypto::SecretBytes> ToSecret(std::span<const uint8_t> b) {
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes s, crypto::SecretBytes::Allocate(b.size()));
  std::copy(b.begin(), b.end(), s.mutable_span().begin());
  return s;
}

}  // namespace

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kCreate:
      return "Create";
    case Operation::kLocate:
      return "Locate";
    case Operation::kGet:
      return "Get";
    case Operation::kGetAttributes:
      return "GetAttributes";
    case Operation::kActivate:
      return "Activate";
    case Operation::kRevoke:
      return "Revoke";
    case Operation::kDestroy:
      return "Destroy";
    case Operation::kQuery:
      return "Query";
    case Operation::kDiscoverVersions:
      return "DiscoverVersions";
    case Operation::kEncrypt:
      return "Encrypt";
    case Operation::kDecrypt:
      return "Decrypt";
  }
  return "unknown operation";
}

std::string_view ObjectStateName(ObjectState s) {
  switch (s) {
    case ObjectState::kPreActive:
      return "Pre-Active";
    case ObjectState::kActive:
      return "Active";
    case ObjectState::kDeactivated:
      return "Deactivated";
    case ObjectState::kCompromised:
      return "Compromised";
    case ObjectState::kDestroyed:
      return "Destroyed";
    case ObjectState::kDestroyedCompromised:
      return "Destroyed Compromised";
  }
  return "unknown state";
}

std::string VersionString(ProtocolVersion v) { return Cat(v.major, ".", v.minor); }

Item CreateAesKeyPayload(std::string_view name, std::string_view group, uint32_t extra_usage,
                         std::string_view request_id) {
  Item name_value = NameValue(name);
  std::vector<Item> attrs = {
      Attr("Cryptographic Algorithm", Item::Enum(0, kAlgorithmAes)),
      Attr("Cryptographic Length", Item::Int(0, 256)),
      Attr("Cryptographic Usage Mask",
           Item::Int(0, static_cast<int32_t>(kUsageEncrypt | kUsageDecrypt | extra_usage))),
      Attr("Name", std::move(name_value)), Attr("Object Group", Item::Text(0, group))};
  if (!request_id.empty()) attrs.push_back(RequestIdAttr(request_id));
  return Payload({Item::Enum(tag::kObjectType, kObjectTypeSymmetricKey),
                  Item::Struct(tag::kTemplateAttribute, std::move(attrs))});
}

Item UidPayload(std::string_view uid) { return Payload({Item::Text(tag::kUniqueIdentifier, uid)}); }

Item GetPayload(std::string_view uid) {
  return Payload(
      {Item::Text(tag::kUniqueIdentifier, uid), Item::Enum(tag::kKeyFormatType, kKeyFormatRaw)});
}

Item RevokePayload(std::string_view uid, RevocationReason reason, int64_t compromise_unix) {
  std::vector<Item> c = {
      Item::Text(tag::kUniqueIdentifier, uid),
      Item::Struct(tag::kRevocationReason,
                   {Item::Enum(tag::kRevocationReasonCode, static_cast<uint32_t>(reason))})};
  if (reason == RevocationReason::kKeyCompromise) {
    c.push_back(Item::DateTime(tag::kCompromiseOccurrenceDate, compromise_unix));
  }
  return Payload(std::move(c));
}

Item LocatePayload(std::string_view group, int32_t max_items, std::string_view request_id) {
  std::vector<Item> c = {Item::Int(tag::kMaximumItems, max_items),
                         Attr("Object Type", Item::Enum(0, kObjectTypeSymmetricKey)),
                         Attr("Object Group", Item::Text(0, group))};
  if (!request_id.empty()) c.push_back(RequestIdAttr(request_id));
  return Payload(std::move(c));
}

Item GetAttributesPayload(std::string_view uid, const std::vector<std::string>& names) {
  std::vector<Item> c = {Item::Text(tag::kUniqueIdentifier, uid)};
  for (const std::string& n : names) c.push_back(Item::Text(tag::kAttributeName, n));
  return Payload(std::move(c));
}

Item EncryptPayload(std::string_view uid, std::span<const uint8_t> plaintext,
                    std::span<const uint8_t> nonce, std::span<const uint8_t> aad) {
  return Payload({Item::Text(tag::kUniqueIdentifier, uid), GcmParameters(),
                  Item::Bytes(tag::kData, plaintext), Item::Bytes(tag::kIvCounterNonce, nonce),
                  Item::Bytes(tag::kAeadAdditionalData, aad)});
}

Item DecryptPayload(std::string_view uid, std::span<const uint8_t> ciphertext,
                    std::span<const uint8_t> nonce, std::span<const uint8_t> aad,
                    std::span<const uint8_t> gcm_tag) {
  return Payload({Item::Text(tag::kUniqueIdentifier, uid), GcmParameters(),
                  Item::Bytes(tag::kData, ciphertext), Item::Bytes(tag::kIvCounterNonce, nonce),
                  Item::Bytes(tag::kAeadAdditionalData, aad), Item::Bytes(tag::kAeadTag, gcm_tag)});
}

Item DiscoverVersionsPayload(const std::vector<ProtocolVersion>& offered) {
  std::vector<Item> c;
  for (ProtocolVersion v : offered) c.push_back(Version(v));
  return Payload(std::move(c));
}

Item QueryPayload(const std::vector<uint32_t>& functions) {
  std::vector<Item> c;
  for (uint32_t f : functions) c.push_back(Item::Enum(tag::kQueryFunction, f));
  return Payload(std::move(c));
}

absl::StatusOr<std::vector<uint8_t>> EncodeRequest(ProtocolVersion version, Operation op,
                                                   Item payload) {
  payload.tag = tag::kRequestPayload;
  Item message = Item::Struct(
      tag::kRequestMessage,
      {Item::Struct(tag::kRequestHeader, {Version(version), Item::Int(tag::kBatchCount, 1)}),
       Item::Struct(tag::kBatchItem,
                    {Item::Enum(tag::kOperation, static_cast<uint32_t>(op)), std::move(payload)})});
  return Encode(message);
}

absl::StatusOr<Response> DecodeResponse(std::span<const uint8_t> bytes, Operation expected,
                                        const DecodeLimits& limits) {
  const std::string where = Where(expected);
  absl::StatusOr<Item> decoded = Decode(bytes, limits);
  if (!decoded.ok()) return Annotate(decoded.status(), where);
  const Item& msg = *decoded;
  if (msg.tag != tag::kResponseMessage || msg.type != Type::kStructure) {
    return absl::InvalidArgumentError(Cat(where, ": not a Response Message"));
  }
  Fields top(msg, where);
  SEALPOOL_ASSIGN_OR_RETURN(
      const Item* header, top.One(tag::kResponseHeader, Type::kStructure, "Response Header", true));
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<const Item*> items,
                            top.All(tag::kBatchItem, Type::kStructure, "Batch Item"));
  Fields h(*header, Cat(where, " header"));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* version, h.One(tag::kProtocolVersion, Type::kStructure,
                                                       "Protocol Version", true));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* stamp,
                            h.One(tag::kTimeStamp, Type::kDateTime, "Time Stamp", true));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* count,
                            h.One(tag::kBatchCount, Type::kInteger, "Batch Count", true));
  Response r;
  SEALPOOL_ASSIGN_OR_RETURN(r.version, ParseVersion(*version, where));
  r.time_stamp = stamp->number;
  if (count->number != 1 || items.size() != 1) {
    return top.Bad(Cat("expected one batch item; Batch Count is ", count->number, " and ",
                       items.size(), " are present"));
  }
  Fields b(*items[0], Cat(where, " batch item"));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* op,
                            b.One(tag::kOperation, Type::kEnumeration, "Operation", false));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* status,
                            b.One(tag::kResultStatus, Type::kEnumeration, "Result Status", true));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* reason,
                            b.One(tag::kResultReason, Type::kEnumeration, "Result Reason", false));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* message,
                            b.One(tag::kResultMessage, Type::kTextString, "Result Message", false));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* payload, b.One(tag::kResponsePayload, Type::kStructure,
                                                       "Response Payload", false));
  // A failure may come back without the Operation (e.g. for a message the server could not
  // parse); a success must name the operation asked.
  if (status->number != 0) {
    return FailureStatus(expected, status->number, reason != nullptr ? reason->number : 0,
                         message != nullptr ? message->text() : "");
  }
  if (op == nullptr) return b.Bad("Operation is missing");
  if (op->number != static_cast<int64_t>(expected)) {
    return b.Bad(Cat("answers operation ", op->number, ", not ", OperationName(expected)));
  }
  r.operation = expected;
  if (payload != nullptr) r.payload = *payload;
  return r;
}

absl::StatusOr<std::string> ParseUid(const Response& r) {
  SEALPOOL_ASSIGN_OR_RETURN(const Item* p, PayloadOf(r));
  return UidOf(*p, r.operation);
}

absl::StatusOr<std::vector<std::string>> ParseLocate(const Response& r) {
  std::vector<std::string> out;
  if (!r.payload.has_value()) return out;  // nothing located
  Fields f(*r.payload, Where(r.operation));
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<const Item*> uids,
                            f.All(tag::kUniqueIdentifier, Type::kTextString, "Unique Identifier"));
  for (const Item* u : uids) {
    if (u->bytes.empty()) return f.Bad("a Unique Identifier is empty");
    out.emplace_back(u->text());
  }
  return out;
}

absl::StatusOr<crypto::SecretBytes> ParseGetKey(const Response& r) {
  SEALPOOL_ASSIGN_OR_RETURN(const Item* p, PayloadOf(r));
  const std::string where = Where(r.operation);
  Fields f(*p, where);
  SEALPOOL_ASSIGN_OR_RETURN(const Item* type,
                            f.One(tag::kObjectType, Type::kEnumeration, "Object Type", true));
  if (type->number != kObjectTypeSymmetricKey)
    return f.Bad(Cat("Object Type is ", type->number, ", not Symmetric Key"));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* key,
                            f.One(tag::kSymmetricKey, Type::kStructure, "Symmetric Key", true));
  Fields k(*key, where);
  SEALPOOL_ASSIGN_OR_RETURN(const Item* block,
                            k.One(tag::kKeyBlock, Type::kStructure, "Key Block", true));
  Fields kb(*block, where);
  SEALPOOL_ASSIGN_OR_RETURN(
      const Item* format, kb.One(tag::kKeyFormatType, Type::kEnumeration, "Key Format Type", true));
  if (format->number != kKeyFormatRaw)
    return kb.Bad(Cat("Key Format Type is ", format->number, ", not Raw"));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* value,
                            kb.One(tag::kKeyValue, Type::kStructure, "Key Value", true));
  SEALPOOL_ASSIGN_OR_RETURN(
      const Item* alg,
      kb.One(tag::kCryptographicAlgorithm, Type::kEnumeration, "Cryptographic Algorithm", false));
  if (alg != nullptr && alg->number != kAlgorithmAes) return kb.Bad("the key is not an AES key");
  Fields kv(*value, where);
  SEALPOOL_ASSIGN_OR_RETURN(const Item* material,
                            kv.One(tag::kKeyMaterial, Type::kByteString, "Key Material", true));
  if (material->bytes.size() != 32) {
    return kv.Bad(Cat("Key Material is ", material->bytes.size(), " bytes, not 32 (AES-256)"));
  }
  return ToSecret(material->bytes);
}

absl::StatusOr<KeyAttributes> ParseGetAttributes(const Response& r) {
  SEALPOOL_ASSIGN_OR_RETURN(const Item* p, PayloadOf(r));
  const std::string where = Where(r.operation);
  Fields f(*p, where);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<const Item*> attrs,
                            f.All(tag::kAttribute, Type::kStructure, "Attribute"));
  KeyAttributes out;
  for (const Item* a : attrs) {
    Fields af(*a, where);
    SEALPOOL_ASSIGN_OR_RETURN(
        const Item* name, af.One(tag::kAttributeName, Type::kTextString, "Attribute Name", true));
    const Item* value = a->Find(tag::kAttributeValue);
    if (value == nullptr) return af.Bad(Cat("attribute ", name->text(), " has no value"));
    std::string_view n = name->text();
    auto want = [&](Type t) -> absl::Status {
      if (value->type != t) {
        return af.Bad(
            Cat("attribute ", n, " is a ", TypeName(value->type), ", not a ", TypeName(t)));
      }
      return absl::OkStatus();
    };
    // A single-valued attribute: present once, of type `t`.
    auto once = [&](bool seen, Type t) -> absl::Status {
      SEALPOOL_RETURN_IF_ERROR(want(t));
      if (seen) return af.Bad(Cat("attribute ", n, " appears more than once"));
      return absl::OkStatus();
    };
    auto date = [&](std::optional<int64_t>* field) -> absl::Status {
      SEALPOOL_RETURN_IF_ERROR(once(field->has_value(), Type::kDateTime));
      if (value->number < 0) return af.Bad(Cat("attribute ", n, " is before 1970"));
      *field = value->number;
      return absl::OkStatus();
    };
    if (n == "State") {
      SEALPOOL_RETURN_IF_ERROR(once(out.state.has_value(), Type::kEnumeration));
      if (value->number < 1 || value->number > 6)
        return af.Bad(Cat("unknown State ", value->number));
      out.state = static_cast<ObjectState>(value->number);
    } else if (n == "Object Group") {
      SEALPOOL_RETURN_IF_ERROR(want(Type::kTextString));
      out.object_groups.emplace_back(value->text());
    } else if (n == "Name") {
      SEALPOOL_RETURN_IF_ERROR(want(Type::kStructure));
      Fields nf(*value, where);
      SEALPOOL_ASSIGN_OR_RETURN(const Item* nv,
                                nf.One(tag::kNameValue, Type::kTextString, "Name Value", true));
      out.names.emplace_back(nv->text());
    } else if (n == "Application Specific Information") {
      SEALPOOL_RETURN_IF_ERROR(want(Type::kStructure));
      Fields asi(*value, where);
      SEALPOOL_ASSIGN_OR_RETURN(
          const Item* ns,
          asi.One(tag::kApplicationNamespace, Type::kTextString, "Application Namespace", true));
      SEALPOOL_ASSIGN_OR_RETURN(
          const Item* data,
          asi.One(tag::kApplicationData, Type::kTextString, "Application Data", false));
      if (ns->text() == kRequestIdNamespace && data != nullptr) {
        out.request_ids.emplace_back(data->text());
      }
    } else if (n == "Cryptographic Algorithm") {
      SEALPOOL_RETURN_IF_ERROR(once(out.algorithm.has_value(), Type::kEnumeration));
      out.algorithm = static_cast<uint32_t>(value->number);
    } else if (n == "Cryptographic Length") {
      SEALPOOL_RETURN_IF_ERROR(once(out.length.has_value(), Type::kInteger));
      out.length = static_cast<int32_t>(value->number);
    } else if (n == "Initial Date") {
      SEALPOOL_RETURN_IF_ERROR(date(&out.initial_date));
    } else if (n == "Activation Date") {
      SEALPOOL_RETURN_IF_ERROR(date(&out.activation_date));
    } else if (n == "Deactivation Date") {
      SEALPOOL_RETURN_IF_ERROR(date(&out.deactivation_date));
    } else if (n == "Compromise Date") {
      SEALPOOL_RETURN_IF_ERROR(date(&out.compromise_date));
    }
    // Other attributes: not asked for, skipped.
  }
  return out;
}

const std::vector<std::string>& KeyAttributeNames() {
  static const std::vector<std::string> kNames = {"State",
                                                  "Object Group",
                                                  "Name",
                                                  "Application Specific Information",
                                                  "Cryptographic Algorithm",
                                                  "Cryptographic Length",
                                                  "Initial Date",
                                                  "Activation Date",
                                                  "Deactivation Date",
                                                  "Compromise Date"};
  return kNames;
}

absl::StatusOr<EncryptResult> ParseEncrypt(const Response& r) {
  SEALPOOL_ASSIGN_OR_RETURN(const Item* p, PayloadOf(r));
  Fields f(*p, Where(r.operation));
  SEALPOOL_RETURN_IF_ERROR(UidOf(*p, r.operation).status());
  SEALPOOL_ASSIGN_OR_RETURN(const Item* data, f.One(tag::kData, Type::kByteString, "Data", true));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* gcm_tag, f.One(tag::kAeadTag, Type::kByteString,
                                                       "Authenticated Encryption Tag", false));
  SEALPOOL_ASSIGN_OR_RETURN(
      const Item* iv, f.One(tag::kIvCounterNonce, Type::kByteString, "IV/Counter/Nonce", false));
  if (gcm_tag == nullptr) {
    return f.Bad(
        "Authenticated Encryption Tag is missing (the server does not do AES-GCM at "
        "this KMIP version; 1.4 or later is needed)");
  }
  if (gcm_tag->bytes.size() != static_cast<size_t>(kGcmTagLength)) {
    return f.Bad(Cat("Authenticated Encryption Tag is ", gcm_tag->bytes.size(), " bytes, not 16"));
  }
  if (iv != nullptr) return f.Bad("the server chose its own IV although one was sent");
  return EncryptResult{data->bytes, gcm_tag->bytes};
}

absl::StatusOr<crypto::SecretBytes> ParseDecrypt(const Response& r) {
  SEALPOOL_ASSIGN_OR_RETURN(const Item* p, PayloadOf(r));
  Fields f(*p, Where(r.operation));
  SEALPOOL_RETURN_IF_ERROR(UidOf(*p, r.operation).status());
  SEALPOOL_ASSIGN_OR_RETURN(const Item* data, f.One(tag::kData, Type::kByteString, "Data", true));
  return ToSecret(data->bytes);
}

absl::StatusOr<std::vector<ProtocolVersion>> ParseDiscoverVersions(const Response& r) {
  std::vector<ProtocolVersion> out;
  if (!r.payload.has_value()) return out;
  const std::string where = Where(r.operation);
  Fields f(*r.payload, where);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<const Item*> versions,
                            f.All(tag::kProtocolVersion, Type::kStructure, "Protocol Version"));
  for (const Item* v : versions) {
    SEALPOOL_ASSIGN_OR_RETURN(ProtocolVersion pv, ParseVersion(*v, where));
    out.push_back(pv);
  }
  return out;
}

absl::StatusOr<QueryResult> ParseQuery(const Response& r) {
  QueryResult out;
  if (!r.payload.has_value()) return out;
  Fields f(*r.payload, Where(r.operation));
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<const Item*> ops,
                            f.All(tag::kOperation, Type::kEnumeration, "Operation"));
  for (const Item* o : ops) out.operations.push_back(static_cast<uint32_t>(o->number));
  SEALPOOL_ASSIGN_OR_RETURN(const Item* vendor, f.One(tag::kVendorIdentification, Type::kTextString,
                                                      "Vendor Identification", false));
  if (vendor != nullptr) out.vendor = std::string(vendor->text());
  return out;
}

}  // namespace sealpool::kms::kmip
