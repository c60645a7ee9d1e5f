// What sealkmsd's built-in key store holds: key groups, root keys with their states and
// material, and the usage registry (which KEK of which pool is wrapped under which root key).
// Plain values; KeyStore guards them, key_store_format.h encodes them.
#ifndef SEALPOOL_KMS_KEY_STORE_CONTENTS_H_
#define SEALPOOL_KMS_KEY_STORE_CONTENTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "crypto/keys.h"
#include "kms/root_key_state.h"

namespace sealpool::kms {

struct StoredGroup {
  std::string name;
  int64_t created_unix = 0;
};

struct StoredRootKey {
  std::string id;
  std::string group;
  RootKeyState state = RootKeyState::kPrelive;
  int64_t created_unix = 0;
  int64_t state_changed_unix = 0;
  // Null once terminated (the material is destroyed). Shared so that a copy of the contents
  // (made for every change, see KeyStore) does not copy secrets; the key itself is immutable.
  std::shared_ptr<const crypto::RootKey> material;
};

// (pool id, key group, KEK id).
using UsageKey = std::tuple<std::string, std::string, std::string>;

struct KeyStoreContents {
  uint64_t generation = 0;                    // incremented by every save
  std::map<std::string, StoredGroup> groups;  // by name
  std::map<std::string, StoredRootKey> keys;  // by id
  std::map<UsageKey, std::string> usage;      // → root key id
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_STORE_CONTENTS_H_
