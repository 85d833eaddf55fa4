// The micro-benchmarks' entry point.
#include <benchmark/benchmark.h>


#include "posthorn/core/log.hh"

// Spool segment churn would log a line per segment; benchmarks want quiet.
int main(int argc, char** argv) {
    posthorn::core::log::set_level(posthorn::core::log::level::warn);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
