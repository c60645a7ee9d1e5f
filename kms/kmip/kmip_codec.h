// The KMIP messages sealkmsd sends and the responses it accepts (KMIP 1.2 - 1.4, one batch
// item per message), on top of ttlv.h. Requests are built field by field in the order the
// specification gives (PyKMIP refuses any other order); responses are parsed strictly:
//
//   - the response must be a Response Message with a Response Header and exactly one Batch
//     Item, for the operation that was asked;
//   - a field the operation needs must be present, once, with its specified type;
//   - a field this code does not use is skipped when its tag is a KMIP or extension tag (KMIP
//     lets servers add optional fields: Time Stamp, Client Correlation Value, attestation and
//     vendor fields, Located Items ...), so a server newer than this code still works; ttlv.h
//     has already refused anything that is not well-formed TTLV;
//   - a failed batch item becomes a status: Item Not Found → NotFound; Permission Denied and
//     Authentication Not Successful → PermissionDenied; Illegal Operation → FailedPrecondition;
//     Operation/Feature Not Supported → Unimplemented; Cryptographic Failure or General Failure
//     on Decrypt → DataLoss (PyKMIP reports a bad GCM tag as General Failure); anything else
//     → Internal. The message names the operation, the reason and the server's own text.
// A malformed response is InvalidArgument ("KMIP <op> response: ...").
#ifndef SEALPOOL_KMS_KMIP_KMIP_CODEC_H_
#define SEALPOOL_KMS_KMIP_KMIP_CODEC_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/secure_memory.h"
#include "kms/kmip/ttlv.h"

namespace sealpool::kms::kmip {

// Tags (KMIP 1.4 section 9.1.3.1).
namespace tag {
inline constexpr uint32_t kApplicationData = 0x420002;
inline constexpr uint32_t kApplicationNamespace = 0x420003;
inline constexpr uint32_t kApplicationSpecificInformation = 0x420004;
inline constexpr uint32_t kAttribute = 0x420008;
inline constexpr uint32_t kAttributeIndex = 0x420009;
inline constexpr uint32_t kAttributeName = 0x42000A;
inline constexpr uint32_t kAttributeValue = 0x42000B;
inline constexpr uint32_t kBatchCount = 0x42000D;
inline constexpr uint32_t kBatchItem = 0x42000F;
inline constexpr uint32_t kBlockCipherMode = 0x420011;
inline constexpr uint32_t kCompromiseOccurrenceDate = 0x420021;
inline constexpr uint32_t kCryptographicAlgorithm = 0x420028;
inline constexpr uint32_t kCryptographicLength = 0x42002A;
inline constexpr uint32_t kCryptographicParameters = 0x42002B;
inline constexpr uint32_t kCryptographicUsageMask = 0x42002C;
inline constexpr uint32_t kIvCounterNonce = 0x42003D;
inline constexpr uint32_t kKeyBlock = 0x420040;
inline constexpr uint32_t kKeyFormatType = 0x420042;
inline constexpr uint32_t kKeyMaterial = 0x420043;
inline constexpr uint32_t kKeyValue = 0x420045;
inline constexpr uint32_t kMaximumItems = 0x42004F;
inline constexpr uint32_t kName = 0x420053;
inline constexpr uint32_t kNameType = 0x420054;
inline constexpr uint32_t kNameValue = 0x420055;
inline constexpr uint32_t kObjectGroup = 0x420056;
inline constexpr uint32_t kObjectType = 0x420057;
inline constexpr uint32_t kOperation = 0x42005C;
inline constexpr uint32_t kProtocolVersion = 0x420069;
inline constexpr uint32_t kProtocolVersionMajor = 0x42006A;
inline constexpr uint32_t kProtocolVersionMinor = 0x42006B;
inline constexpr uint32_t kQueryFunction = 0x420074;
inline constexpr uint32_t kRequestHeader = 0x420077;
inline constexpr uint32_t kRequestMessage = 0x420078;
inline constexpr uint32_t kRequestPayload = 0x420079;
inline constexpr uint32_t kResponseHeader = 0x42007A;
inline constexpr uint32_t kResponseMessage = 0x42007B;
inline constexpr uint32_t kResponsePayload = 0x42007C;
inline constexpr uint32_t kResultMessage = 0x42007D;
inline constexpr uint32_t kResultReason = 0x42007E;
inline constexpr uint32_t kResultStatus = 0x42007F;
inline constexpr uint32_t kRevocationMessage = 0x420080;
inline constexpr uint32_t kRevocationReason = 0x420081;
inline constexpr uint32_t kRevocationReasonCode = 0x420082;
inline constexpr uint32_t kState = 0x42008D;
inline constexpr uint32_t kSymmetricKey = 0x42008F;
inline constexpr uint32_t kTemplateAttribute = 0x420091;
inline constexpr uint32_t kTimeStamp = 0x420092;
inline constexpr uint32_t kUniqueIdentifier = 0x420094;
inline constexpr uint32_t kVendorIdentification = 0x42009D;
inline constexpr uint32_t kData = 0x4200C2;
inline constexpr uint32_t kTagLength = 0x4200CE;
inline constexpr uint32_t kAeadAdditionalData = 0x4200FE;
inline constexpr uint32_t kAeadTag = 0x4200FF;
}  // namespace tag

enum class Operation : uint32_t {
  kCreate = 0x01,
  kLocate = 0x08,
  kGet = 0x0A,
  kGetAttributes = 0x0B,
  kActivate = 0x12,
  kRevoke = 0x13,
  kDestroy = 0x14,
  kQuery = 0x18,
  kDiscoverVersions = 0x1E,
  kEncrypt = 0x1F,
  kDecrypt = 0x20,
};
std::string_view OperationName(Operation op);

// KMIP object states (section 9.1.3.2.17).
enum class ObjectState : uint32_t {
  kPreActive = 1,
  kActive = 2,
  kDeactivated = 3,
  kCompromised = 4,
  kDestroyed = 5,
  kDestroyedCompromised = 6,
};
std::string_view ObjectStateName(ObjectState s);

enum class RevocationReason : uint32_t {
  kUnspecified = 1,
  kKeyCompromise = 2,
  kCessationOfOperation = 6,
};

inline constexpr uint32_t kObjectTypeSymmetricKey = 2;
inline constexpr uint32_t kAlgorithmAes = 3;
inline constexpr uint32_t kBlockCipherModeGcm = 9;
inline constexpr uint32_t kKeyFormatRaw = 1;
inline constexpr uint32_t kUsageEncrypt = 0x04;
inline constexpr uint32_t kUsageDecrypt = 0x08;
inline constexpr uint32_t kNameTypeText = 1;
inline constexpr uint32_t kQueryOperations = 1;
inline constexpr uint32_t kQueryServerInformation = 3;
inline constexpr int32_t kGcmTagLength = 16;
inline constexpr size_t kGcmNonceLength = 12;

struct ProtocolVersion {
  int32_t major = 1;
  int32_t minor = 4;
  auto operator<=>(const ProtocolVersion&) const = default;
};
std::string VersionString(ProtocolVersion v);

// ---- Requests: the payload of one operation, then the whole message. ----

// The Application Namespace under which sealkmsd stores the request id of a Create (KMIP
// has no custom attributes PyKMIP accepts; Application Specific Information it keeps,
// returns and searches).
inline constexpr std::string_view kRequestIdNamespace = "sealpool-request";

// Create: an AES-256 symmetric key with usage Encrypt|Decrypt (plus `extra_usage`), named
// `name`, in Object Group `group`; with Application Specific Information
// (kRequestIdNamespace, `request_id`) when `request_id` is not empty.
Item CreateAesKeyPayload(std::string_view name, std::string_view group, uint32_t extra_usage = 0,
                         std::string_view request_id = {});
// Activate, Get (Raw key format), Destroy: just the Unique Identifier.
Item UidPayload(std::string_view uid);
Item GetPayload(std::string_view uid);
// Revoke with `reason`; a compromise carries its Compromise Occurrence Date.
Item RevokePayload(std::string_view uid, RevocationReason reason, int64_t compromise_unix = 0);
// Locate symmetric keys of Object Group `group` (at most `max_items`); only those created
// with `request_id` (CreateAesKeyPayload) when it is not empty.
Item LocatePayload(std::string_view group, int32_t max_items, std::string_view request_id = {});
// GetAttributes for the named attributes ("State", "Object Group", "Name", ...).
Item GetAttributesPayload(std::string_view uid, const std::vector<std::string>& names);
// Encrypt/Decrypt with AES-256-GCM, a 12-byte nonce from the caller and a 16-byte tag.
Item EncryptPayload(std::string_view uid, std::span<const uint8_t> plaintext,
                    std::span<const uint8_t> nonce, std::span<const uint8_t> aad);
Item DecryptPayload(std::string_view uid, std::span<const uint8_t> ciphertext,
                    std::span<const uint8_t> nonce, std::span<const uint8_t> aad,
                    std::span<const uint8_t> tag);
Item DiscoverVersionsPayload(const std::vector<ProtocolVersion>& offered);
Item QueryPayload(const std::vector<uint32_t>& functions);

// The encoded Request Message: header (version, batch count 1) and one batch item.
absl::StatusOr<std::vector<uint8_t>> EncodeRequest(ProtocolVersion version, Operation op,
                                                   Item payload);

// ---- Responses. ----

struct Response {
  ProtocolVersion version;
  int64_t time_stamp = 0;
  Operation operation = Operation::kQuery;
  std::optional<Item> payload;  // absent when the server sent none
};

// Decodes a Response Message for `expected` (see the rules at the top of this file).
absl::StatusOr<Response> DecodeResponse(std::span<const uint8_t> bytes, Operation expected,
                                        const DecodeLimits& limits = {});

// The Unique Identifier of a Create, Activate, Revoke or Destroy response.
absl::StatusOr<std::string> ParseUid(const Response& r);
absl::StatusOr<std::vector<std::string>> ParseLocate(const Response& r);
// The Raw key material of a Get response for an AES-256 key (32 bytes, in locked memory).
absl::StatusOr<crypto::SecretBytes> ParseGetKey(const Response& r);

// The attributes of a GetAttributes response sealpool reads; absent ones were not sent (a
// server may leave out what it does not track: PyKMIP 0.10 sends no Activation, Deactivation
// or Compromise Date). Single-valued attributes (State, the algorithm, the length, the dates)
// sent twice, any attribute of the wrong type, a Name without a Name Value, an unknown State
// and a negative date are refused; attributes not listed here are skipped.
struct KeyAttributes {
  std::optional<ObjectState> state;
  std::vector<std::string> object_groups;
  std::vector<std::string> names;
  // Application Data of the Application Specific Information under kRequestIdNamespace.
  std::vector<std::string> request_ids;
  std::optional<uint32_t> algorithm;
  std::optional<int32_t> length;
  // Date-Times, Unix seconds.
  std::optional<int64_t> initial_date;
  std::optional<int64_t> activation_date;
  std::optional<int64_t> deactivation_date;
  std::optional<int64_t> compromise_date;
};
absl::StatusOr<KeyAttributes> ParseGetAttributes(const Response& r);
// The attribute names KmipClient::GetAttributes asks for: the fields of KeyAttributes.
const std::vector<std::string>& KeyAttributeNames();

struct EncryptResult {
  std::vector<uint8_t> ciphertext;
  std::vector<uint8_t> tag;
};
absl::StatusOr<EncryptResult> ParseEncrypt(const Response& r);
// The plaintext, in locked memory.
absl::StatusOr<crypto::SecretBytes> ParseDecrypt(const Response& r);
absl::StatusOr<std::vector<ProtocolVersion>> ParseDiscoverVersions(const Response& r);

struct QueryResult {
  std::vector<uint32_t> operations;
  std::string vendor;
};
absl::StatusOr<QueryResult> ParseQuery(const Response& r);

}  // namespace sealpool::kms::kmip

#endif  // SEALPOOL_KMS_KMIP_KMIP_CODEC_H_
