// Module entry point of the itpn_cpu addon: registers every kernel group.
#include "common.h"
#include "signals.h"

namespace itpn {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  registerElementwise(env, exports);
  registerBinary(env, exports);
  registerReduce(env, exports);
  registerGemm(env, exports);
  registerStrided(env, exports);
  registerGather(env, exports);
  registerSoftmax(env, exports);
  registerLayerNorm(env, exports);
  registerAdamW(env, exports);
  registerSimd(env, exports);
  registerAttention(env, exports);
  registerLinear(env, exports);
  exports.Set("version", Napi::Number::New(env, 5));
  blockSignalsInWorkers(omp_get_max_threads());  // before any oneDNN kernel runs on them (signals.h)
  return exports;
}

}  // namespace itpn

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return itpn::Init(env, exports); }

NODE_API_MODULE(itpn_cpu, InitModule)
