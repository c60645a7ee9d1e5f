// Micro-benchmarks of crypto/, each beside the OpenSSL primitive it wraps, measured in the
// same run (bench_main.cc prints the ratios). 64 KiB buffers: the typical segment size.
//
//   BM_OpenSSL_SHA256             EVP_Digest SHA-256 (reference for the chunker)
//   BM_OpenSSL_HMAC_SHA256        EVP_Q_mac HMAC-SHA-256, one shot   (peer of BM_Fingerprint)
//   BM_Fingerprint                Fingerprinter::Compute
//   BM_OpenSSL_AES256GCM_Encrypt  EVP AES-256-GCM, context and key reused, new IV per message
//                                 (peer of BM_Seal and BM_Open)
//   BM_Seal / BM_Open             crypto::Seal / crypto::Open with a Dek
//   BM_WrapDek / BM_UnwrapDek     RFC 5649 wrap / unwrap of one DEK (items per second)
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "crypto/aead.h"
#include "crypto/fingerprint.h"
#include "crypto/key_wrap.h"
#include "crypto/keys.h"

namespace {

using sealpool::crypto::Dek;
using sealpool::crypto::FingerprintKey;
using sealpool::crypto::Kek;

// 32 bytes of associated data, about what the segment store binds.
constexpr std::array<uint8_t, 32> kAad = {1, 2, 3, 4, 5, 6, 7, 8};

std::vector<uint8_t> Input(size_t n) {
  std::vector<uint8_t> data(n);
  uint32_t x = 2463534242u;
  for (uint8_t& b : data) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return data;
}

size_t SizeArg(const benchmark::State& state) { return static_cast<size_t>(state.range(0)); }

void SetBytes(benchmark::State& state, size_t n) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_OpenSSL_SHA256(benchmark::State& state) {
  const std::vector<uint8_t> data = Input(SizeArg(state));
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) return state.SkipWithError("EVP_MD_fetch(SHA256) failed");
  std::array<uint8_t, 32> out;
  unsigned int len = 0;
  for (auto _ : state) {
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
      state.SkipWithError("EVP_Digest failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_free(md);
  SetBytes(state, data.size());
}
BENCHMARK(BM_OpenSSL_SHA256)->Arg(65536);

void BM_OpenSSL_HMAC_SHA256(benchmark::State& state) {
  const std::vector<uint8_t> data = Input(SizeArg(state));
  const std::vector<uint8_t> key = Input(32);
  std::array<uint8_t, 32> out;
  size_t len = 0;
  for (auto _ : state) {
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(),
                  data.size(), out.data(), out.size(), &len) == nullptr) {
      state.SkipWithError("EVP_Q_mac failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  SetBytes(state, data.size());
}
BENCHMARK(BM_OpenSSL_HMAC_SHA256)->Arg(65536);

void BM_Fingerprint(benchmark::State& state) {
  const std::vector<uint8_t> data = Input(SizeArg(state));
  auto key = FingerprintKey::Generate();
  if (!key.ok()) return state.SkipWithError("key generation failed");
  auto fingerprinter = sealpool::crypto::Fingerprinter::Create(*key);
  if (!fingerprinter.ok()) return state.SkipWithError("Fingerprinter::Create failed");
  for (auto _ : state) {
    auto fp = fingerprinter->Compute(data);
    if (!fp.ok()) {
      state.SkipWithError("Compute failed");
      break;
    }
    benchmark::DoNotOptimize(*fp);
  }
  SetBytes(state, data.size());
}
BENCHMARK(BM_Fingerprint)->Arg(65536);

void BM_OpenSSL_AES256GCM_Encrypt(benchmark::State& state) {
  const std::vector<uint8_t> plaintext = Input(SizeArg(state));
  std::vector<uint8_t> ciphertext(plaintext.size());
  const std::vector<uint8_t> key = Input(32);
  std::array<uint8_t, 12> iv{};
  std::array<uint8_t, 16> tag;
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (cipher == nullptr || ctx == nullptr ||
      EVP_EncryptInit_ex2(ctx, cipher, key.data(), nullptr, nullptr) != 1) {
    state.SkipWithError("AES-256-GCM setup failed");
  }
  uint64_t counter = 0;
  for (auto _ : state) {
    ++counter;
    std::memcpy(iv.data(), &counter, sizeof counter);
    int outl = 0;
    if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, iv.data(), nullptr) != 1 ||
        EVP_EncryptUpdate(ctx, nullptr, &outl, kAad.data(), static_cast<int>(kAad.size())) != 1 ||
        EVP_EncryptUpdate(ctx, ciphertext.data(), &outl, plaintext.data(),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx, tag.data(), &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) !=
            1) {
      state.SkipWithError("AES-256-GCM encrypt failed");
      break;
    }
    benchmark::DoNotOptimize(ciphertext.data());
    benchmark::DoNotOptimize(tag);
  }
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  SetBytes(state, plaintext.size());
}
BENCHMARK(BM_OpenSSL_AES256GCM_Encrypt)->Arg(65536);

void BM_Seal(benchmark::State& state) {
  const std::vector<uint8_t> plaintext = Input(SizeArg(state));
  std::vector<uint8_t> ciphertext(plaintext.size());
  auto dek = Dek::Generate();
  if (!dek.ok()) return state.SkipWithError("key generation failed");
  sealpool::crypto::GcmNonce nonce;
  sealpool::crypto::GcmTag tag;
  for (auto _ : state) {
    if (!sealpool::crypto::Seal(*dek, kAad, plaintext, ciphertext, &nonce, &tag).ok()) {
      state.SkipWithError("Seal failed");
      break;
    }
    benchmark::DoNotOptimize(ciphertext.data());
    benchmark::DoNotOptimize(tag);
  }
  SetBytes(state, plaintext.size());
}
BENCHMARK(BM_Seal)->Arg(65536);

void BM_Open(benchmark::State& state) {
  const std::vector<uint8_t> plaintext = Input(SizeArg(state));
  std::vector<uint8_t> ciphertext(plaintext.size()), out(plaintext.size());
  auto dek = Dek::Generate();
  if (!dek.ok()) return state.SkipWithError("key generation failed");
  sealpool::crypto::GcmNonce nonce;
  sealpool::crypto::GcmTag tag;
  if (!sealpool::crypto::Seal(*dek, kAad, plaintext, ciphertext, &nonce, &tag).ok()) {
    return state.SkipWithError("Seal failed");
  }
  for (auto _ : state) {
    if (!sealpool::crypto::Open(*dek, nonce, kAad, ciphertext, tag, out).ok()) {
      state.SkipWithError("Open failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetBytes(state, plaintext.size());
}
BENCHMARK(BM_Open)->Arg(65536);

void BM_WrapDek(benchmark::State& state) {
  auto kek = Kek::Generate();
  auto dek = Dek::Generate();
  if (!kek.ok() || !dek.ok()) return state.SkipWithError("key generation failed");
  for (auto _ : state) {
    auto wrapped = sealpool::crypto::WrapDek(*kek, *dek);
    if (!wrapped.ok()) {
      state.SkipWithError("WrapDek failed");
      break;
    }
    benchmark::DoNotOptimize(*wrapped);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_WrapDek);

void BM_UnwrapDek(benchmark::State& state) {
  auto kek = Kek::Generate();
  auto dek = Dek::Generate();
  if (!kek.ok() || !dek.ok()) return state.SkipWithError("key generation failed");
  auto wrapped = sealpool::crypto::WrapDek(*kek, *dek);
  if (!wrapped.ok()) return state.SkipWithError("WrapDek failed");
  for (auto _ : state) {
    auto unwrapped = sealpool::crypto::UnwrapDek(*kek, *wrapped);
    if (!unwrapped.ok()) {
      state.SkipWithError("UnwrapDek failed");
      break;
    }
    benchmark::DoNotOptimize(unwrapped->RevealSecret().data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_UnwrapDek);

}  // namespace
