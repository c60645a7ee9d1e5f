// KMIP codec: the real Encrypt/Decrypt exchange captured against PyKMIP (test/data/kmip) is
// decoded, and our requests re-encode to the same bytes; hostile responses are clear errors.
#include "kms/kmip/kmip_codec.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "test/test_util.h"

namespace sealpool::kms::kmip {
namespace {

using test::FromHex;

std::vector<uint8_t> Vector(const std::string& name) {
  std::ifstream in(test::TestDataDir() / "kmip" / name);
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  std::string hex = s.str();
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  return FromHex(hex);
}

// From encrypt_vector.json.
const std::vector<uint8_t> kPlain =
    FromHex("6e12dcc495fd53c007e93e24ed2d77a2ff9d9ea966d1dc945f83832b8d03e658");
const std::vector<uint8_t> kIv = FromHex("4c45ec38bd139a016e50b0eb");
const std::vector<uint8_t> kAad = FromHex("6b6d69702d62656e6368203563626439626262");
const std::vector<uint8_t> kCipher =
    FromHex("2ae48430ddd731512e8afe2c88379cf1bdb25ded42da1a13793c1446d670af60");
const std::vector<uint8_t> kTag = FromHex("829361ea5f9de4c4973a8e1330fe7172");

std::vector<uint8_t> Enc(const Item& i) {
  auto b = Encode(i);
  REQUIRE(b.ok());
  return *b;
}

// A success response for `op` with `payload`, encoded.
std::vector<uint8_t> SuccessResponse(Operation op, std::vector<Item> payload,
                                     int32_t batch_count = 1) {
  return Enc(Item::Struct(
      tag::kResponseMessage,
      {Item::Struct(
           tag::kResponseHeader,
           {Item::Struct(tag::kProtocolVersion, {Item::Int(tag::kProtocolVersionMajor, 1),
                                                 Item::Int(tag::kProtocolVersionMinor, 4)}),
            Item::DateTime(tag::kTimeStamp, 1795419260), Item::Int(tag::kBatchCount, batch_count)}),
       Item::Struct(tag::kBatchItem, {Item::Enum(tag::kOperation, static_cast<uint32_t>(op)),
                                      Item::Enum(tag::kResultStatus, 0),
                                      Item::Struct(tag::kResponsePayload, std::move(payload))})}));
}

// A GetAttributes Attribute structure.
Item Attribute(std::string_view name, Item value) {
  value.tag = tag::kAttributeValue;
  return Item::Struct(tag::kAttribute, {Item::Text(tag::kAttributeName, name), std::move(value)});
}

std::vector<uint8_t> FailureResponse(Operation op, uint32_t reason, std::string_view message) {
  return Enc(Item::Struct(
      tag::kResponseMessage,
      {Item::Struct(
           tag::kResponseHeader,
           {Item::Struct(tag::kProtocolVersion, {Item::Int(tag::kProtocolVersionMajor, 1),
                                                 Item::Int(tag::kProtocolVersionMinor, 4)}),
            Item::DateTime(tag::kTimeStamp, 1), Item::Int(tag::kBatchCount, 1)}),
       Item::Struct(tag::kBatchItem,
                    {Item::Enum(tag::kOperation, static_cast<uint32_t>(op)),
                     Item::Enum(tag::kResultStatus, 1), Item::Enum(tag::kResultReason, reason),
                     Item::Text(tag::kResultMessage, message)})}));
}

TEST_CASE("KMIP Encrypt request re-encodes to the captured bytes", "[kmip]") {
  auto bytes = EncodeRequest({1, 4}, Operation::kEncrypt, EncryptPayload("1", kPlain, kIv, kAad));
  REQUIRE(bytes.ok());
  CHECK(test::ToHex(*bytes) == test::ToHex(Vector("encrypt_request.hex")));
}

TEST_CASE("KMIP Decrypt request re-encodes to the captured bytes", "[kmip]") {
  auto bytes =
      EncodeRequest({1, 4}, Operation::kDecrypt, DecryptPayload("1", kCipher, kIv, kAad, kTag));
  REQUIRE(bytes.ok());
  CHECK(test::ToHex(*bytes) == test::ToHex(Vector("decrypt_request.hex")));
}

TEST_CASE("KMIP captured requests decode and re-encode byte for byte", "[kmip]") {
  for (const char* name : {"encrypt_request.hex", "decrypt_request.hex", "encrypt_response.hex",
                           "decrypt_response.hex"}) {
    INFO(name);
    std::vector<uint8_t> raw = Vector(name);
    auto item = Decode(raw);
    REQUIRE(item.ok());
    CHECK(Enc(*item) == raw);
  }
}

TEST_CASE("KMIP captured Encrypt response decodes to ciphertext and tag", "[kmip]") {
  auto r = DecodeResponse(Vector("encrypt_response.hex"), Operation::kEncrypt);
  REQUIRE(r.ok());
  CHECK(r->version == ProtocolVersion{1, 4});
  CHECK(r->time_stamp == 1795419260);
  auto e = ParseEncrypt(*r);
  REQUIRE(e.ok());
  CHECK(e->ciphertext == kCipher);
  CHECK(e->tag == kTag);
}

TEST_CASE("KMIP captured Decrypt response decodes to the plaintext", "[kmip]") {
  auto r = DecodeResponse(Vector("decrypt_response.hex"), Operation::kDecrypt);
  REQUIRE(r.ok());
  auto d = ParseDecrypt(*r);
  REQUIRE(d.ok());
  CHECK(std::vector<uint8_t>(d->span().begin(), d->span().end()) == kPlain);
}

TEST_CASE("KMIP response for another operation is refused", "[kmip]") {
  auto r = DecodeResponse(Vector("encrypt_response.hex"), Operation::kDecrypt);
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("not Decrypt"));
}

TEST_CASE("KMIP truncated responses are refused at every length", "[kmip]") {
  std::vector<uint8_t> raw = Vector("encrypt_response.hex");
  for (size_t n = 0; n < raw.size(); ++n) {
    auto r = DecodeResponse(std::span<const uint8_t>(raw).first(n), Operation::kEncrypt);
    INFO(n);
    REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("KMIP trailing bytes, oversized and overlong lengths are refused", "[kmip]") {
  std::vector<uint8_t> raw = Vector("encrypt_response.hex");
  SECTION("trailing bytes") {
    raw.insert(raw.end(), 8, 0);
    auto r = DecodeResponse(raw, Operation::kEncrypt);
    REQUIRE(!r.ok());
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("trailing"));
  }
  SECTION("a length beyond the message") {
    raw[7] = static_cast<uint8_t>(raw[7] + 8);
    auto r = DecodeResponse(raw, Operation::kEncrypt);
    REQUIRE(!r.ok());
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("remain"));
  }
  SECTION("a total size over the limit") {
    DecodeLimits small;
    small.max_message_size = 100;
    auto r = DecodeResponse(raw, Operation::kEncrypt, small);
    REQUIRE(!r.ok());
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("exceeds the limit"));
    std::vector<uint8_t> header = {0x42, 0x00, 0x7B, 0x01, 0x7F, 0xFF, 0xFF, 0xF8};
    CHECK(!MessageSize(header).ok());
    header[4] = 0;
    header[5] = 0;
    header[6] = 0x01;
    header[7] = 0;
    auto size = MessageSize(header);
    REQUIRE(size.ok());
    CHECK(*size == 0x100 + 8);
  }
  SECTION("a Structure length that is not a multiple of 8") {
    std::vector<uint8_t> header = {0x42, 0x00, 0x7B, 0x01, 0x00, 0x00, 0x00, 0x0C};
    CHECK(!MessageSize(header).ok());
  }
  SECTION("an Integer with length 8") {
    auto r =
        Decode(FromHex("42000d0200000008"
                       "0000000000000001"));
    REQUIRE(!r.ok());
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("has length 8, not 4"));
  }
}

TEST_CASE("KMIP malformed items are refused", "[kmip]") {
  auto bad = [](std::string_view hex, std::string_view why) {
    auto r = Decode(FromHex(hex));
    INFO(hex);
    REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains(std::string(why)));
  };
  bad("42000d0200000004"
      "0000000100000001",
      "non-zero padding");  // Integer padding
  bad("4200c20800000003"
      "aabbcc0000000001",
      "non-zero padding");  // Byte String padding
  bad("4200080600000008"
      "0000000000000002",
      "neither 0 nor 1");  // Boolean 2
  bad("4200940700000002"
      "c328000000000000",
      "not UTF-8");                            // bad UTF-8
  bad("4200940B00000000", "unknown type 11");  // type 0x0B
  bad("1200940700000000", "not a KMIP tag");   // tag outside ranges
  bad("4200000700000000", "not a KMIP tag");   // reserved tag
  bad("4200040400000004"
      "0000000000000000",
      "multiple of 8");  // Big Integer length
  // A structure whose child overruns it.
  bad("4200780100000008"
      "42000d0200000004"
      "0000000100000000",
      "remain");
  // Nesting 17 deep (the limit is 16).
  std::string deep;
  for (int i = 0; i < 17; ++i) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "4200780100%06x", 8 * (16 - i));
    deep += buf;
  }
  bad(deep, "nested deeper than 16");
}

TEST_CASE("KMIP wrongly typed or missing response fields are refused", "[kmip]") {
  SECTION("Data as a Text String") {
    auto raw = SuccessResponse(
        Operation::kEncrypt, {Item::Text(tag::kUniqueIdentifier, "1"), Item::Text(tag::kData, "x"),
                              Item::Bytes(tag::kAeadTag, kTag)});
    auto r = DecodeResponse(raw, Operation::kEncrypt);
    REQUIRE(r.ok());
    auto e = ParseEncrypt(*r);
    REQUIRE(e.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(e.status().message()), Catch::Contains("Data is a Text String"));
  }
  SECTION("no tag: a server below KMIP 1.4") {
    auto raw = SuccessResponse(Operation::kEncrypt, {Item::Text(tag::kUniqueIdentifier, "1"),
                                                     Item::Bytes(tag::kData, kCipher)});
    auto e = ParseEncrypt(*DecodeResponse(raw, Operation::kEncrypt));
    REQUIRE(!e.ok());
    CHECK_THAT(std::string(e.status().message()), Catch::Contains("1.4"));
  }
  SECTION("a short tag") {
    auto raw =
        SuccessResponse(Operation::kEncrypt,
                        {Item::Text(tag::kUniqueIdentifier, "1"), Item::Bytes(tag::kData, kCipher),
                         Item::Bytes(tag::kAeadTag, std::span(kTag).first(8))});
    CHECK(!ParseEncrypt(*DecodeResponse(raw, Operation::kEncrypt)).ok());
  }
  SECTION("Data twice") {
    auto raw = SuccessResponse(Operation::kDecrypt,
                               {Item::Text(tag::kUniqueIdentifier, "1"),
                                Item::Bytes(tag::kData, kPlain), Item::Bytes(tag::kData, kPlain)});
    auto d = ParseDecrypt(*DecodeResponse(raw, Operation::kDecrypt));
    REQUIRE(!d.ok());
    CHECK_THAT(std::string(d.status().message()), Catch::Contains("more than once"));
  }
  SECTION("two batch items") {
    auto raw = SuccessResponse(Operation::kDecrypt, {}, 2);
    auto r = DecodeResponse(raw, Operation::kDecrypt);
    REQUIRE(!r.ok());
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("one batch item"));
  }
  SECTION("Result Status as an Integer") {
    std::vector<uint8_t> raw = Vector("encrypt_response.hex");
    // 42007f 05 → 42007f 02
    for (size_t i = 0; i + 4 < raw.size(); ++i) {
      if (raw[i] == 0x42 && raw[i + 1] == 0x00 && raw[i + 2] == 0x7F && raw[i + 3] == 0x05) {
        raw[i + 3] = 0x02;
      }
    }
    auto r = DecodeResponse(raw, Operation::kEncrypt);
    REQUIRE(!r.ok());
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("Result Status is a Integer"));
  }
  SECTION("a Get key of the wrong size") {
    auto raw = SuccessResponse(
        Operation::kGet,
        {Item::Enum(tag::kObjectType, kObjectTypeSymmetricKey),
         Item::Text(tag::kUniqueIdentifier, "1"),
         Item::Struct(
             tag::kSymmetricKey,
             {Item::Struct(tag::kKeyBlock,
                           {Item::Enum(tag::kKeyFormatType, kKeyFormatRaw),
                            Item::Struct(tag::kKeyValue, {Item::Bytes(tag::kKeyMaterial, kTag)}),
                            Item::Enum(tag::kCryptographicAlgorithm, kAlgorithmAes)})})});
    auto k = ParseGetKey(*DecodeResponse(raw, Operation::kGet));
    REQUIRE(!k.ok());
    CHECK_THAT(std::string(k.status().message()), Catch::Contains("not 32"));
  }
}

TEST_CASE("KMIP unknown tags are skipped where fields may be added", "[kmip]") {
  auto raw = SuccessResponse(
      Operation::kDecrypt, {Item::Text(tag::kUniqueIdentifier, "1"), Item::Text(0x540001, "vendor"),
                            Item::Bytes(tag::kData, kPlain), Item::Int(0x4200FA, 7)});
  auto d = ParseDecrypt(*DecodeResponse(raw, Operation::kDecrypt));
  REQUIRE(d.ok());
  CHECK(d->size() == 32);
}

TEST_CASE("KMIP failures map to statuses naming the reason", "[kmip]") {
  struct Case {
    Operation op;
    uint32_t reason;
    absl::StatusCode code;
  };
  for (Case c : {Case{Operation::kGet, 0x01, absl::StatusCode::kNotFound},
                 Case{Operation::kGet, 0x0C, absl::StatusCode::kPermissionDenied},
                 Case{Operation::kEncrypt, 0x03, absl::StatusCode::kPermissionDenied},
                 Case{Operation::kRevoke, 0x0B, absl::StatusCode::kFailedPrecondition},
                 Case{Operation::kEncrypt, 0x05, absl::StatusCode::kUnimplemented},
                 Case{Operation::kDecrypt, 0x100, absl::StatusCode::kDataLoss},
                 Case{Operation::kEncrypt, 0x100, absl::StatusCode::kInternal}}) {
    auto r = DecodeResponse(FailureResponse(c.op, c.reason, "server says no"), c.op);
    INFO(r.status().ToString());
    CHECK(r.status().code() == c.code);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains("server says no"));
    CHECK_THAT(std::string(r.status().message()),
               Catch::Contains(std::string(OperationName(c.op))));
  }
}

TEST_CASE("KMIP GetAttributes, Locate, DiscoverVersions and Query responses parse", "[kmip]") {
  auto attr = [](std::string_view name, Item v) {
    v.tag = tag::kAttributeValue;
    return Item::Struct(tag::kAttribute, {Item::Text(tag::kAttributeName, name), std::move(v)});
  };
  auto raw = SuccessResponse(
      Operation::kGetAttributes,
      {Item::Text(tag::kUniqueIdentifier, "7"), attr("State", Item::Enum(0, 2)),
       attr("Object Group", Item::Text(0, "kg-a")),
       attr("Name", Item::Struct(0, {Item::Text(tag::kNameValue, "sealpool:kg-a"),
                                     Item::Enum(tag::kNameType, 1)})),
       attr("Cryptographic Length", Item::Int(0, 256)), attr("Unknown", Item::Int(0, 1))});
  auto a = ParseGetAttributes(*DecodeResponse(raw, Operation::kGetAttributes));
  REQUIRE(a.ok());
  CHECK(a->state == ObjectState::kActive);
  CHECK(a->object_groups == std::vector<std::string>{"kg-a"});
  CHECK(a->names == std::vector<std::string>{"sealpool:kg-a"});
  CHECK(a->length == 256);

  auto bad_state =
      SuccessResponse(Operation::kGetAttributes,
                      {Item::Text(tag::kUniqueIdentifier, "7"), attr("State", Item::Int(0, 2))});
  CHECK(!ParseGetAttributes(*DecodeResponse(bad_state, Operation::kGetAttributes)).ok());

  auto loc = SuccessResponse(Operation::kLocate,
                             {Item::Int(0x4200D5, 2), Item::Text(tag::kUniqueIdentifier, "3"),
                              Item::Text(tag::kUniqueIdentifier, "5")});
  auto uids = ParseLocate(*DecodeResponse(loc, Operation::kLocate));
  REQUIRE(uids.ok());
  CHECK(*uids == std::vector<std::string>{"3", "5"});

  auto dv = SuccessResponse(
      Operation::kDiscoverVersions,
      {Item::Struct(tag::kProtocolVersion, {Item::Int(tag::kProtocolVersionMajor, 1),
                                            Item::Int(tag::kProtocolVersionMinor, 4)}),
       Item::Struct(tag::kProtocolVersion, {Item::Int(tag::kProtocolVersionMajor, 1),
                                            Item::Int(tag::kProtocolVersionMinor, 2)})});
  auto versions = ParseDiscoverVersions(*DecodeResponse(dv, Operation::kDiscoverVersions));
  REQUIRE(versions.ok());
  CHECK(*versions == std::vector<ProtocolVersion>{{1, 4}, {1, 2}});

  auto q = SuccessResponse(Operation::kQuery,
                           {Item::Enum(tag::kOperation, 0x1F), Item::Enum(tag::kOperation, 0x20),
                            Item::Text(tag::kVendorIdentification, "PyKMIP")});
  auto qr = ParseQuery(*DecodeResponse(q, Operation::kQuery));
  REQUIRE(qr.ok());
  CHECK(qr->operations == std::vector<uint32_t>{0x1F, 0x20});
  CHECK(qr->vendor == "PyKMIP");
}

TEST_CASE("KMIP GetAttributes asks for and parses the dates of a key", "[kmip]") {
  // The request lists every attribute KeyAttributes holds, in order, after the identifier.
  Item req = GetAttributesPayload("7", KeyAttributeNames());
  REQUIRE(req.children.size() == KeyAttributeNames().size() + 1);
  CHECK(req.children[0].tag == tag::kUniqueIdentifier);
  std::vector<std::string> asked;
  for (size_t i = 1; i < req.children.size(); ++i) {
    CHECK(req.children[i].tag == tag::kAttributeName);
    asked.emplace_back(req.children[i].text());
  }
  CHECK(asked == std::vector<std::string>{"State", "Object Group", "Name", "Application Specific Information",
                                          "Cryptographic Algorithm", "Cryptographic Length",
                                          "Initial Date", "Activation Date", "Deactivation Date",
                                          "Compromise Date"});
  REQUIRE(EncodeRequest({1, 4}, Operation::kGetAttributes, req).ok());

  auto raw = SuccessResponse(
      Operation::kGetAttributes,
      {Item::Text(tag::kUniqueIdentifier, "7"), Attribute("State", Item::Enum(0, 3)),
       Attribute("Cryptographic Algorithm", Item::Enum(0, kAlgorithmAes)),
       Attribute("Initial Date", Item::DateTime(0, 1700000000)),
       Attribute("Activation Date", Item::DateTime(0, 1700000100)),
       Attribute("Deactivation Date", Item::DateTime(0, 1700000200)),
       Attribute("Compromise Date", Item::DateTime(0, 0)),
       Attribute("Last Change Date", Item::DateTime(0, 1700000300))});
  auto a = ParseGetAttributes(*DecodeResponse(raw, Operation::kGetAttributes));
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  CHECK(a->state == ObjectState::kDeactivated);
  CHECK(a->algorithm == kAlgorithmAes);
  CHECK(a->initial_date == 1700000000);
  CHECK(a->activation_date == 1700000100);
  CHECK(a->deactivation_date == 1700000200);
  CHECK(a->compromise_date == 0);
  CHECK(!a->length.has_value());

  // A server that does not track a date leaves it out (PyKMIP 0.10: only Initial Date).
  auto sparse = SuccessResponse(Operation::kGetAttributes,
                                {Item::Text(tag::kUniqueIdentifier, "7"),
                                 Attribute("Initial Date", Item::DateTime(0, 1700000000))});
  auto s = ParseGetAttributes(*DecodeResponse(sparse, Operation::kGetAttributes));
  REQUIRE(s.ok());
  CHECK(s->initial_date == 1700000000);
  CHECK(!s->activation_date.has_value());
  CHECK(!s->state.has_value());
}

TEST_CASE("KMIP GetAttributes: malformed or wrongly typed attributes are refused", "[kmip]") {
  struct Case {
    std::string what;
    std::vector<Item> attrs;
    std::string message;
  };
  const Item name = Item::Struct(
      0, {Item::Text(tag::kNameValue, "sealpool:kg-a"), Item::Enum(tag::kNameType, 1)});
  std::vector<Case> cases;
  cases.push_back({"a date as an Integer",
                   {Attribute("Activation Date", Item::Int(0, 5))},
                   "Activation Date is a Integer, not a Date-Time"});
  cases.push_back({"a date as a Long Integer",
                   {Attribute("Initial Date", Item::Long(0, 1700000000))},
                   "Initial Date is a Long Integer, not a Date-Time"});
  cases.push_back({"a date as a Text String",
                   {Attribute("Deactivation Date", Item::Text(0, "2024-01-01"))},
                   "Deactivation Date is a Text String"});
  cases.push_back({"a date twice",
                   {Attribute("Activation Date", Item::DateTime(0, 1)),
                    Attribute("Activation Date", Item::DateTime(0, 2))},
                   "Activation Date appears more than once"});
  cases.push_back({"a date before 1970",
                   {Attribute("Compromise Date", Item::DateTime(0, -1))},
                   "Compromise Date is before 1970"});
  cases.push_back({"State twice",
                   {Attribute("State", Item::Enum(0, 1)), Attribute("State", Item::Enum(0, 2))},
                   "State appears more than once"});
  cases.push_back({"an unknown State", {Attribute("State", Item::Enum(0, 7))}, "unknown State 7"});
  cases.push_back({"State as an Integer",
                   {Attribute("State", Item::Int(0, 2))},
                   "State is a Integer, not a Enumeration"});
  cases.push_back({"the length twice",
                   {Attribute("Cryptographic Length", Item::Int(0, 256)),
                    Attribute("Cryptographic Length", Item::Int(0, 128))},
                   "Cryptographic Length appears more than once"});
  cases.push_back({"the algorithm as an Integer",
                   {Attribute("Cryptographic Algorithm", Item::Int(0, 3))},
                   "Cryptographic Algorithm is a Integer"});
  cases.push_back({"the algorithm twice",
                   {Attribute("Cryptographic Algorithm", Item::Enum(0, 3)),
                    Attribute("Cryptographic Algorithm", Item::Enum(0, 3))},
                   "Cryptographic Algorithm appears more than once"});
  cases.push_back({"Object Group as a Byte String",
                   {Attribute("Object Group", Item::Bytes(0, kTag))},
                   "Object Group is a Byte String"});
  cases.push_back({"Name as a Text String",
                   {Attribute("Name", Item::Text(0, "sealpool:kg-a"))},
                   "Name is a Text String, not a Structure"});
  cases.push_back({"a Name without Name Value",
                   {Attribute("Name", Item::Struct(0, {Item::Enum(tag::kNameType, 1)}))},
                   "Name Value is missing"});
  cases.push_back({"an attribute without a value",
                   {Item::Struct(tag::kAttribute, {Item::Text(tag::kAttributeName, "State")})},
                   "has no value"});
  cases.push_back({"an Attribute Name as an Integer",
                   {Item::Struct(tag::kAttribute, {Item::Int(tag::kAttributeName, 1),
                                                   Item::Enum(tag::kAttributeValue, 2)})},
                   "Attribute Name is a Integer"});
  cases.push_back({"an Attribute that is not a Structure",
                   {Item::Text(tag::kAttribute, "State")},
                   "Attribute is a Text String"});
  for (const Case& c : cases) {
    INFO(c.what);
    std::vector<Item> payload = {Item::Text(tag::kUniqueIdentifier, "7"), Attribute("Name", name)};
    payload.insert(payload.end(), c.attrs.begin(), c.attrs.end());
    auto r = DecodeResponse(SuccessResponse(Operation::kGetAttributes, payload),
                            Operation::kGetAttributes);
    REQUIRE(r.ok());
    auto a = ParseGetAttributes(*r);
    INFO(a.status().ToString());
    REQUIRE(a.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(a.status().message()), Catch::Contains(c.message));
  }
  // No payload at all.
  auto empty = Enc(Item::Struct(
      tag::kResponseMessage,
      {Item::Struct(
           tag::kResponseHeader,
           {Item::Struct(tag::kProtocolVersion, {Item::Int(tag::kProtocolVersionMajor, 1),
                                                 Item::Int(tag::kProtocolVersionMinor, 4)}),
            Item::DateTime(tag::kTimeStamp, 1), Item::Int(tag::kBatchCount, 1)}),
       Item::Struct(tag::kBatchItem,
                    {Item::Enum(tag::kOperation, static_cast<uint32_t>(Operation::kGetAttributes)),
                     Item::Enum(tag::kResultStatus, 0)})}));
  auto r = DecodeResponse(empty, Operation::kGetAttributes);
  REQUIRE(r.ok());
  CHECK(ParseGetAttributes(*r).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("KMIP pseudo-random garbage never decodes into a crash", "[kmip]") {
  std::vector<uint8_t> raw = Vector("decrypt_response.hex");
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    std::vector<uint8_t> m = raw;
    std::vector<uint8_t> noise = test::PseudoRandomBytes(4, seed);
    m[noise[0] % m.size()] = noise[1];
    m[noise[2] % m.size()] ^= noise[3];
    auto r = DecodeResponse(m, Operation::kDecrypt);
    if (r.ok()) (void)ParseDecrypt(*r);
  }
  SUCCEED();
}

}  // namespace
}  // namespace sealpool::kms::kmip
