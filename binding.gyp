{
  "targets": [
    {
      "target_name": "itpn_cpu",
      "sources": [
        "native/binding.cc",
        "native/elementwise.cc",
        "native/binary.cc",
        "native/reduce.cc",
        "native/gemm.cc",
        "native/strided.cc",
        "native/gather.cc",
        "native/softmax.cc",
        "native/layer_norm.cc",
        "native/adamw.cc",
        "native/simd.cc",
        "native/attention.cc",
        "native/attention_avx512.cc",
        "native/gelu_avx512.cc",
        "native/linear.cc",
        "native/onednn_matmul.cc",
        "native/pack_b.cc",
        "native/signals.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": [ "-fno-exceptions" ],
      "cflags_cc!": [ "-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++14" ],
      "cflags": [ "-O3", "-march=x86-64-v2", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unknown-pragmas" ],
      "cflags_cc": [ "-std=c++17", "-fexceptions" ],
      "ldflags": [ "-fopenmp" ],
      "libraries": [ "-ldnnl", "-lopenblas", "-fopenmp" ]
    }
  ]
}
