// The one source of randomness of sealpool: OpenSSL's DRBGs (seeded from the kernel).
//
//   RandomBytes        public randomness: nonces, salts, ids that must not collide.
//   PrivateRandomBytes key material (RAND_priv_bytes draws from a separate DRBG instance, so
//                      a disclosed nonce says nothing about the DRBG state keys come from).
//
// Both fill the whole span or fail with Internal (the DRBG could not be seeded); on failure
// the span's contents are unspecified and must not be used. Thread-safe.
#ifndef SEALPOOL_CRYPTO_RANDOM_H_
#define SEALPOOL_CRYPTO_RANDOM_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"

namespace sealpool::crypto {

[[nodiscard]] absl::Status RandomBytes(std::span<uint8_t> out);
[[nodiscard]] absl::Status PrivateRandomBytes(std::span<uint8_t> out);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_RANDOM_H_
