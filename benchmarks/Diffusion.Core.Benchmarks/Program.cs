using BenchmarkDotNet.Running;
using Diffusion.Core.Benchmarks;

// Usage: dotnet run -c Release --project benchmarks/Diffusion.Core.Benchmarks -- [--model DIR] [--provider cpu|cuda[:id]|directml[:id]]
//        [--threads N] [BenchmarkDotNet arguments, e.g. --filter '*Scheduler*']
// The model options reach the benchmark processes through environment variables (BenchmarkSettings).
string[] remaining = BenchmarkSettings.ApplyCommandLine(args);
BenchmarkSwitcher.FromAssembly(typeof(BenchmarkSettings).Assembly).Run(remaining);
