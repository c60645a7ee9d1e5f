// A real KMIP server for integration tests: Debian's PyKMIP (python3-pykmip), started with
// /usr/bin/python3 on a free loopback port, with certificates made by packaging/make-certs.sh
// in its own temp folder, and stopped (SIGINT) on destruction. A test that needs it calls
// RequirePyKmip() first, which skips the test (CTest skip code 77) when the package is missing.
//
// Certificates in dir(): ca.crt/.key, server.crt/.key (the KMIP server), and client identities
// (clientAuth) "sealkmsd" and "other-owner"; after MakeForeignCerts(), dir()/"foreign" holds a
// second CA with a client "sealkmsd" that the server does not trust.
#ifndef SEALPOOL_TEST_KMS_KMIP_PYKMIP_SERVER_H_
#define SEALPOOL_TEST_KMS_KMIP_PYKMIP_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "kms/kmip/kmip_client.h"
#include "test/test_util.h"

namespace sealpool::test {

// Polls `condition` (every 20 ms) until it holds or `limit` passes; whether it held. For
// waiting on what another process does, instead of a fixed sleep.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds limit = std::chrono::seconds(20));

// Skips the calling test unless /usr/bin/python3 can import PyKMIP's server.
void RequirePyKmip();

// A free TCP port on 127.0.0.1 (bound to port 0 and released).
int FreeLoopbackPort();

class PyKmipServer {
 public:
  PyKmipServer();  // makes certificates; does not start
  ~PyKmipServer();
  PyKmipServer(const PyKmipServer&) = delete;
  PyKmipServer& operator=(const PyKmipServer&) = delete;

  void MakeForeignCerts();
  // dir()/<name>.crt/.key: a client certificate signed by the server's CA with no extended key
  // usage at all.
  void MakeCertWithoutEku(const std::string& name);
  // Starts the server (on the same port and database after a restart) and waits, polling a
  // DiscoverVersions over mutual TLS for up to 30 s, until it answers.
  void Start();
  // SIGINT and wait. PyKMIP waits up to 10 s for a connected client's session to time out,
  // so stop clients first where possible.
  void Stop();
  // SIGKILL and wait: the KMS crashing (its SQLite database keeps committed objects).
  void Kill();
  // SIGSTOP / SIGCONT to the server and its helpers: a KMS that hangs, then carries on with
  // whatever requests reached it meanwhile. Freeze returns once every thread of the server
  // has stopped.
  void Freeze();
  void Thaw();
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Client options for identity `cert` ("sealkmsd", "other-owner"), from folder `sub`
  // ("" or "foreign").
  kms::kmip::KmipClientOptions Options(const std::string& cert = "sealkmsd",
                                       const std::string& sub = "",
                                       absl::Duration deadline = absl::Seconds(5)) const;
  std::unique_ptr<kms::kmip::KmipClient> Client(const std::string& cert = "sealkmsd",
                                                const std::string& sub = "",
                                                absl::Duration deadline = absl::Seconds(5)) const;
  std::string Log() const;

 private:
  bool TryStart();

  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_KMS_KMIP_PYKMIP_SERVER_H_
