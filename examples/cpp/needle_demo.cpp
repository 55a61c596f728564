// libneedle from C++: RAII handles over the C API, streaming with a lambda, errors
// as exceptions.
//   needle_demo_cpp <needle.safetensors> <vocab.txt> "<query>" '<tools JSON>'
#include <needle.h>

#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

struct EngineDeleter {
  void operator()(needle_engine *e) const { needle_free(e); }
};
struct StringDeleter {
  void operator()(char *s) const { needle_free_str(s); }
};
using Engine = std::unique_ptr<needle_engine, EngineDeleter>;
using String = std::unique_ptr<char, StringDeleter>;

[[noreturn]] void throw_last() {
  const char *msg = needle_last_error();
  throw std::runtime_error(std::string(needle_status_str(needle_last_status())) + ": " + (msg ? msg : ""));
}

std::string run(const Engine &e, const std::string &query, const std::string &tools) {
  String s(needle_run(e.get(), query.c_str(), tools.c_str()));
  if (!s) throw_last();
  return s.get();
}

template <class F>
std::string run_stream(const Engine &e, const std::string &query, const std::string &tools, F &&on_token) {
  auto trampoline = [](uint32_t id, const char *piece, void *user_data) -> bool {
    return (*static_cast<F *>(user_data))(id, piece ? piece : "");
  };
  String s(needle_run_stream(e.get(), query.c_str(), tools.c_str(), nullptr, trampoline, &on_token));
  if (!s) throw_last();
  return s.get();
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " <needle.safetensors> <vocab.txt> <query> <tools-json>\n";
    return 2;
  }
  Engine engine(needle_load(argv[1], argv[2]));
  if (!engine) {
    std::cerr << "load failed: " << needle_last_error() << "\n";
    return 1;
  }
  try {
    std::string answer = run(engine, argv[3], argv[4]);
    std::cout << "answer: " << answer << "\n";
    int n = 0;
    std::string streamed = run_stream(engine, argv[3], argv[4], [&](uint32_t, const std::string &piece) {
      std::cout << piece;
      return ++n < 1000;
    });
    std::cout << "\nstreamed " << n << " tokens, same answer: " << (streamed == answer ? "yes" : "no") << "\n";
    run(engine, argv[3], "{not json");
  } catch (const std::exception &ex) {
    std::cout << "error handled: " << ex.what() << "\n";
  }
  return 0;
}
