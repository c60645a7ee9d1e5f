#include "storage/chunking/chunker_format.h"

#include <bit>

#include "absl/strings/str_cat.h"

namespace sealpool::storage {
namespace {

void PutFixed32(std::vector<uint8_t>* dst, uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) dst->push_back(static_cast<uint8_t>(v >> shift));
}

void PutFixed64(std::vector<uint8_t>* dst, uint64_t v) {
  for (int shift = 0; shift < 64; shift += 8) dst->push_back(static_cast<uint8_t>(v >> shift));
}

uint32_t GetFixed32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint64_t GetFixed64(const uint8_t* p) {
  return uint64_t{GetFixed32(p)} | uint64_t{GetFixed32(p + 4)} << 32;
}

// The top `bits` bits of a 32-bit word; 1 <= bits <= 31.
uint32_t TopBits(int bits) { return ~uint32_t{0} << (32 - bits); }

}  // namespace

absl::Status ChunkerParams::Validate() const {
  if (version == 0) return absl::InvalidArgumentError("chunker params: version 0 is not valid");
  if (version > kChunkerFormatVersion) {
    return absl::UnimplementedError(absl::StrCat("chunker params: format version ", version,
                                                 " is newer than this build supports (",
                                                 kChunkerFormatVersion, ")"));
  }
  auto invalid = [this](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("chunker params ", ToString(), ": ", why));
  };
  if (min_size < kChunkerMinMinSize) {
    return invalid(absl::StrCat("min_size is below ", kChunkerMinMinSize));
  }
  if (!std::has_single_bit(avg_size)) return invalid(std::string("avg_size is not a power of two"));
  if (avg_size < kChunkerMinAvgSize || avg_size > kChunkerMaxAvgSize) {
    return invalid(
        absl::StrCat("avg_size is outside [", kChunkerMinAvgSize, ", ", kChunkerMaxAvgSize, "]"));
  }
  if (max_size > kChunkerMaxMaxSize) {
    return invalid(absl::StrCat("max_size is above ", kChunkerMaxMaxSize));
  }
  if (!(min_size < avg_size && avg_size < max_size)) {
    return invalid(std::string("sizes must satisfy min_size < avg_size < max_size"));
  }
  return absl::OkStatus();
}

int ChunkerParams::avg_bits() const { return std::countr_zero(avg_size); }
uint32_t ChunkerParams::mask_s() const { return TopBits(avg_bits() + 2); }
uint32_t ChunkerParams::mask_l() const { return TopBits(avg_bits() - 2); }

void ChunkerParams::EncodeTo(std::vector<uint8_t>* dst) const {
  dst->reserve(dst->size() + kChunkerParamsEncodedSize);
  PutFixed32(dst, version);
  PutFixed32(dst, min_size);
  PutFixed32(dst, avg_size);
  PutFixed32(dst, max_size);
  PutFixed64(dst, seed);
}

absl::StatusOr<ChunkerParams> ChunkerParams::DecodeFrom(std::span<const uint8_t> record) {
  if (record.size() < sizeof(uint32_t)) {
    return absl::InvalidArgumentError(absl::StrCat("chunker params record: ", record.size(),
                                                   " bytes is too short to hold a version"));
  }
  ChunkerParams params;
  params.version = GetFixed32(record.data());
  if (params.version == 0) {
    return absl::InvalidArgumentError("chunker params record: version 0 is not valid");
  }
  if (params.version > kChunkerFormatVersion) {
    return absl::UnimplementedError(
        absl::StrCat("chunker params record: format version ", params.version,
                     " is newer than this build supports (", kChunkerFormatVersion, ")"));
  }
  if (record.size() != kChunkerParamsEncodedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunker params record: ", record.size(), " bytes, version ", params.version,
                     " records are ", kChunkerParamsEncodedSize, " bytes"));
  }
  params.min_size = GetFixed32(record.data() + 4);
  params.avg_size = GetFixed32(record.data() + 8);
  params.max_size = GetFixed32(record.data() + 12);
  params.seed = GetFixed64(record.data() + 16);
  if (absl::Status status = params.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("chunker params record: ", status.message()));
  }
  return params;
}

std::string ChunkerParams::ToString() const {
  return absl::StrCat("v", version, " min=", min_size, " avg=", avg_size, " max=", max_size,
                      " seed=", seed);
}

}  // namespace sealpool::storage
