// sealpool ls, stat and rm: the unary calls on the image catalog.
#include <cstdio>
#include <vector>

#include "tools/sealpool/commands.h"
#include "tools/sealpool/exit_codes.h"
#include "tools/common/json_writer.h"
#include "tools/sealpool/output.h"

namespace sealpool::tools::client {

namespace v1 = pool::v1;

// ---- ls, stat, rm ----

int List(Options& o, Connection& conn, const std::string& lsu_arg) {
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  std::vector<std::string> lsus;
  if (!lsu_arg.empty()) {
    lsus.push_back(lsu_arg);
  } else {
    lsus = o.config.lsus;
  }
  if (lsus.empty()) {
    return Fail(o, kExitUsage,
                "ls: name an LSU (sealpool ls LSU), or list yours in the config file "
                "(lsus = [\"...\"])");
  }
  std::vector<v1::Image> images;
  for (const std::string& lsu : lsus) {
    std::string token;
    do {
      grpc::ClientContext context;
      RegisteredCall registered(&context);
      conn.SetDeadline(&context);
      v1::ListImagesRequest request;
      request.set_lsu(lsu);
      request.set_page_token(token);
      v1::ListImagesResponse response;
      grpc::Status s = conn.stub()->ListImages(&context, request, &response);
      if (!s.ok()) return FailRpc(o, s, "ls " + lsu);
      for (const v1::Image& i : response.images()) images.push_back(i);
      token = response.next_page_token();
    } while (!token.empty());
  }
  if (o.json) {
    JsonWriter j;
    j.BeginObject().Key("images").BeginArray();
    for (const v1::Image& i : images) ImageJson(i, j);
    j.EndArray().EndObject();
    std::printf("%s\n", j.str().c_str());
  } else if (!o.quiet) {
    std::fputs(FormatImageTable(images).c_str(), stdout);
  }
  return kExitOk;
}

int Stat(Options& o, Connection& conn, const std::string& lsu, const std::string& name) {
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  grpc::ClientContext context;
  RegisteredCall registered(&context);
  conn.SetDeadline(&context);
  v1::ImageRef ref;
  ref.set_lsu(lsu);
  ref.set_name(name);
  v1::Image image;
  grpc::Status s = conn.stub()->StatImage(&context, ref, &image);
  if (!s.ok()) return FailRpc(o, s, "stat " + Ref(lsu, name));
  if (o.json) {
    JsonWriter j;
    ImageJson(image, j);
    std::printf("%s\n", j.str().c_str());
  } else {
    std::fputs(FormatImage(image).c_str(), stdout);
  }
  return kExitOk;
}

int Remove(Options& o, Connection& conn, const std::string& lsu, const std::string& name) {
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  grpc::ClientContext context;
  RegisteredCall registered(&context);
  conn.SetDeadline(&context);
  v1::ImageRef ref;
  ref.set_lsu(lsu);
  ref.set_name(name);
  v1::DeleteImageResponse response;
  grpc::Status s = conn.stub()->DeleteImage(&context, ref, &response);
  if (!s.ok()) return FailRpc(o, s, "rm " + Ref(lsu, name));
  if (o.json) {
    JsonWriter j;
    j.BeginObject().Key("deleted").BeginObject();
    j.Key("lsu").String(lsu).Key("name").String(name);
    j.EndObject().EndObject();
    std::printf("%s\n", j.str().c_str());
  } else if (!o.quiet) {
    std::printf("deleted %s\n", Ref(lsu, name).c_str());
  }
  return kExitOk;
}

}  // namespace sealpool::tools::client
