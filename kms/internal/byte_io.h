// Little-endian byte writer and bounds-checked reader for kms's on-disk and wire formats.
// Internal to kms/.
#ifndef SEALPOOL_KMS_INTERNAL_BYTE_IO_H_
#define SEALPOOL_KMS_INTERNAL_BYTE_IO_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace sealpool::kms::internal {

// Writes into a caller-owned buffer; `ok()` turns false (and stays false) on overflow, so a
// caller may write a whole record and check once.
class ByteWriter {
 public:
  explicit ByteWriter(std::span<uint8_t> out) : out_(out) {}

  void U8(uint8_t v) { Bytes(std::span<const uint8_t>(&v, 1)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  void Bytes(std::span<const uint8_t> b) {
    if (!ok_ || out_.size() - pos_ < b.size()) {
      ok_ = false;
      return;
    }
    if (!b.empty()) std::memcpy(out_.data() + pos_, b.data(), b.size());
    pos_ += b.size();
  }
  // u16 length, then the bytes.
  void Str16(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  void Zeros(size_t n) {
    for (size_t i = 0; i < n; ++i) U8(0);
  }

  bool ok() const { return ok_; }
  size_t position() const { return pos_; }

 private:
  void Le(uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    Bytes(std::span<const uint8_t>(b, static_cast<size_t>(n)));
  }

  std::span<uint8_t> out_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Reads from a borrowed buffer; every read fails (returns false) past the end.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}

  bool U8(uint8_t* v) { return Le(v, 1); }
  bool U16(uint16_t* v) { return Le(v, 2); }
  bool U32(uint32_t* v) { return Le(v, 4); }
  bool U64(uint64_t* v) { return Le(v, 8); }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!Le(&u, 8)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Bytes(std::span<uint8_t> out) {
    if (in_.size() - pos_ < out.size()) return false;
    if (!out.empty()) std::memcpy(out.data(), in_.data() + pos_, out.size());
    pos_ += out.size();
    return true;
  }
  // A view of the next `n` bytes (borrowed from the input).
  bool View(size_t n, std::span<const uint8_t>* out) {
    if (in_.size() - pos_ < n) return false;
    *out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool Str16(std::string* s) {
    uint16_t n;
    std::span<const uint8_t> v;
    if (!U16(&n) || !View(n, &v)) return false;
    s->assign(reinterpret_cast<const char*>(v.data()), v.size());
    return true;
  }

  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  template <typename T>
  bool Le(T* v, int n) {
    if (in_.size() - pos_ < static_cast<size_t>(n)) return false;
    uint64_t x = 0;
    for (int i = 0; i < n; ++i)
      x |= static_cast<uint64_t>(in_[pos_ + static_cast<size_t>(i)]) << (8 * i);
    pos_ += static_cast<size_t>(n);
    *v = static_cast<T>(x);
    return true;
  }

  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace sealpool::kms::internal

#endif  // SEALPOOL_KMS_INTERNAL_BYTE_IO_H_
