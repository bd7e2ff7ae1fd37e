// Run-time backend selection through the real dlopen path: "cpu", "hip" and "auto", the
// reasons a machine falls back to the CPU (no HIP module, no HIP runtime, no AMD GPU, GPU arch
// not in this build), refusal of a plugin built against another ABI version, and
// list_backends(). The emulated plugin stands in for libzaya-hip.so; its test-only environment
// switches (ZAYA_HIP_EMU_*) make it report the situations a real machine would.
#include "test_support.h"

#include "hip_loader/hip_loader.h"

#include <zaya/backend.h>
#include <zaya/error.h>
#include <zaya/model.h>

#include <cstdlib>

using namespace zaya;

namespace {

struct Env {
  std::vector<std::string> names;
  Env& set(const char* name, const std::string& value) {
    setenv(name, value.c_str(), 1);
    names.emplace_back(name);
    return *this;
  }
  ~Env() {
    for (const auto& n : names) unsetenv(n.c_str());
  }
};

std::string reason_of(const char* backend) {
  try {
    create_backend(backend);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("hip backend: cpu stays the cpu, unknown names are refused") {
  auto cpu = create_backend("cpu");
  CHECK(cpu.backend->name() == "cpu");
  CHECK(cpu.log == "cpu: requested");
  CHECK_THROWS_AS(create_backend("cuda"), Error);
}

TEST_CASE("hip backend: the emulated plugin is taken when hip is asked for, never by auto") {
  Env env;
  env.set("ZAYA_HIP_PLUGIN", ZAYA_HIP_EMU_PLUGIN);
  auto hip = create_backend("hip");
  CHECK(hip.backend->name() == "hip");
  CHECK(hip.log.find("hip: requested") == 0);
  CHECK(hip.backend->description().find("emulated") != std::string::npos);
  auto automatic = create_backend("auto");
  CHECK(automatic.backend->name() == "cpu");
  CHECK(automatic.log.find("auto: hip unavailable") == 0);
  CHECK(automatic.log.find("CPU emulation") != std::string::npos);
  CHECK(automatic.log.find("using cpu") != std::string::npos);
}

TEST_CASE("hip backend: every fallback reason") {
  SUBCASE("no HIP module") {
    Env env;
    env.set("ZAYA_HIP_PLUGIN", "/nonexistent/libzaya-hip.so");
    auto a = create_backend("auto");
    CHECK(a.backend->name() == "cpu");
    CHECK(a.log.find("cannot load /nonexistent/libzaya-hip.so") != std::string::npos);
    CHECK(reason_of("hip").find("cannot load") != std::string::npos);
    // A bare name the dynamic linker does not find means no module is installed at all.
    auto info = hip_loader::probe_path("libzaya-hip-not-installed.so", false);
    CHECK(info.reason.find("no HIP module") == 0);
  }
  SUBCASE("no HIP runtime") {
    // What dlopen says on a machine without ROCm when the plugin's dependency is missing.
    CHECK(hip_loader::explain_dlopen_error("/opt/zaya/lib/libzaya-hip.so",
                                           "libamdhip64.so.5: cannot open shared object file: No such file or directory")
              .find("no HIP runtime") == 0);
    CHECK(hip_loader::explain_dlopen_error("/x/libzaya-hip.so", "/x/libzaya-hip.so: invalid ELF header").find("cannot load") == 0);
  }
  SUBCASE("no AMD GPU") {
    Env env;
    env.set("ZAYA_HIP_PLUGIN", ZAYA_HIP_EMU_PLUGIN).set("ZAYA_HIP_EMU_DEVICES", "0");
    CHECK(reason_of("hip").find("no AMD GPU") != std::string::npos);
    auto info = hip_loader::probe(true);
    CHECK_FALSE(info.usable());
    CHECK(info.reason.find("no AMD GPU") == 0);
  }
  SUBCASE("GPU arch not in this build") {
    Env env;
    env.set("ZAYA_HIP_PLUGIN", ZAYA_HIP_EMU_PLUGIN).set("ZAYA_HIP_EMU_ARCH", "gfx1100");
    const std::string r = reason_of("hip");
    CHECK(r.find("GPU arch gfx1100 not in this build") != std::string::npos);
    auto lines = list_backends();
    bool device_line = false;
    for (const auto& [name, status] : lines)
      if (name == "hip:0") device_line = status.find("gfx1100") != std::string::npos && status.find("not in this build") != std::string::npos;
    CHECK(device_line);
  }
  SUBCASE("plugin built against another ABI version") {
    Env env;
    env.set("ZAYA_HIP_PLUGIN", ZAYA_HIP_EMU_PLUGIN).set("ZAYA_HIP_EMU_ABI_VERSION", std::to_string(ZAYA_HIP_ABI_VERSION + 1));
    const std::string r = reason_of("hip");
    CHECK(r.find("ABI version " + std::to_string(ZAYA_HIP_ABI_VERSION + 1)) != std::string::npos);
    CHECK(r.find("refused") != std::string::npos);
    CHECK(create_backend("auto").backend->name() == "cpu");
  }
}

TEST_CASE("hip backend: list_backends reports backends and devices") {
  Env env;
  env.set("ZAYA_HIP_PLUGIN", ZAYA_HIP_EMU_PLUGIN).set("ZAYA_HIP_EMU_DEVICES", "2");
  auto lines = list_backends();
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].first == "cpu");
  CHECK(lines[0].second.find("available") == 0);
  CHECK(lines[1].first == "hip");
  CHECK(lines[1].second.find("available (emulated): 2 device(s)") == 0);
  CHECK(lines[2].first == "hip:0");
  CHECK(lines[3].first == "hip:1");
  CHECK(lines[3].second.find("emulated device 1") != std::string::npos);
}

TEST_CASE("hip backend: zaya info --backend auto reports the CPU fallback and why") {
  Env env;
  env.set("ZAYA_HIP_PLUGIN", "/nonexistent/libzaya-hip.so");
  auto model = Model::load(test::checkpoint("native-f32"), {.backend = "auto"});
  const auto info = model->info();
  CHECK(info.backend.find("cpu") == 0);
  CHECK(info.backend_log.find("auto: hip unavailable (cannot load /nonexistent/libzaya-hip.so") == 0);
  // The CLI prints backend_log as is.
  const std::string cmd = std::string("ZAYA_HIP_PLUGIN=/nonexistent/libzaya-hip.so ") + ZAYA_CLI_PATH + " info --model " +
                          test::checkpoint("native-f32").string() + " --backend auto 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[512];
  while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  CHECK(pclose(p) == 0);
  CHECK(out.find("hip unavailable") != std::string::npos);
  CHECK(out.find("using cpu") != std::string::npos);
}
