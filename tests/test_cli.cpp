// The `zaya` command line tool, run as a user would: outputs, exit status, one-line errors.
#include "test_support.h"

#include <cstdio>
#include <sys/wait.h>

using namespace zaya;

namespace {

using Run = test::CliRun;
Run run(const std::string& arguments) { return test::run_cli(arguments); }

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

}  // namespace

TEST_CASE("zaya logits and zaya generate reproduce the golden data") {
  const auto model = test::checkpoint("native-f32");
  SafetensorsFile golden(model / "golden.safetensors");
  auto input = test::read_tensor<int32_t>(golden, "input_ids");
  auto logits = test::read_tensor<float>(golden, "logits");
  auto greedy = test::read_tensor<int32_t>(golden, "greedy_ids");

  auto out = test::temp_dir("cli-logits") / "logits.safetensors";
  auto r = run("logits --model " + model.string() + " --ids " + ids_text(input) + " --out " + out.string());
  REQUIRE_MESSAGE(r.status == 0, r.err);
  SafetensorsFile written(out);
  REQUIRE(written.tensors().size() == 1);
  CHECK(written.tensors()[0].shape == std::vector<int64_t>{static_cast<int64_t>(input.size()), 384});
  CHECK(test::relative_error(test::read_tensor<float>(written, "logits"), logits) <= 1e-5);

  r = run("generate --model " + model.string() + " --ids " + ids_text(input) + " --max-tokens " +
          std::to_string(greedy.size()) + " --greedy --ignore-eos --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out == "{\"ids\":[" + ids_text(greedy) + "]}\n");
}

TEST_CASE("zaya info describes both layouts") {
  auto r = run("info --model " + test::checkpoint("legacy-f32").string() + " --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.find("\"layout\":\"legacy\"") != std::string::npos);
  CHECK(r.out.find("\"blocks\":3") != std::string::npos);
  r = run("info --model " + test::checkpoint("native-bf16-sharded").string());
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.find("native (3 blocks)") != std::string::npos);
  CHECK(r.out.find("BF16") != std::string::npos);
  CHECK(r.out.find("cpu") != std::string::npos);
}

TEST_CASE("failures exit non-zero with one clear line on stderr") {
  const std::string model = test::checkpoint("native-f32").string();
  const std::vector<std::string> cases = {
      "info", "info --model /nonexistent/dir", "generate --model " + model + " --ids 2,x,5 --greedy",
      "generate --model " + model + " --ids 2,999999 --greedy", "info --model " + model + " --bogus-option 1",
      "no-such-command", "logits --model " + model + " --ids 2 --out /nonexistent/dir/x.safetensors",
      "synth --preset nope --out /tmp/x", "info --model " + model + " --backend quantum"};
  for (const std::string& args : cases) {
    CAPTURE(args);
    auto r = run(args);
    CHECK(r.status != 0);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find("error") != std::string::npos);
  }
}

TEST_CASE("zaya synth writes a checkpoint zaya can load") {
  auto dir = test::temp_dir("cli-synth");
  auto r = run("synth --preset tiny --layout legacy --dtype f16 --seed 3 --quiet --out " + (dir / "m").string());
  REQUIRE_MESSAGE(r.status == 0, r.err);
  r = run("generate --model " + (dir / "m").string() + " --ids 2,3,4 --max-tokens 5 --greedy --ignore-eos --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.rfind("{\"ids\":[", 0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), ',') == 4);
}
