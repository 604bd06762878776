using BenchmarkDotNet.Running;
using Diffusion.Core.Benchmarks;

// Usage: dotnet run -c Release --project benchmarks/Diffusion.Core.Benchmarks -- [--model DIR] [--provider cpu|cuda[:id]|directml[:id]]
//        [--threads N] [BenchmarkDotNet arguments, e.g. --filter '*Scheduler*']
//    or: ... -- overhead [--model DIR] [--threads 2] [--size 512] [--steps 20] [--runs 3] [--guidance 7.5]
//    or: ... -- memory [--model DIR] [--threads 2] [--size 512] [--steps 20] [--memory-mode keep|sequential]
//               [--tile 64] [--overlap 16] [--component NAME]
//    or: ... -- allocations   (managed bytes allocated by scheduler steps, per scheduler)
//    or: ... -- built-unet load --checkpoint F.safetensors | --export unet/model.onnx [--optimized DIR] [--threads 2]
//        ... -- built-unet steps --checkpoint F.safetensors --export unet/model.onnx [--runs 5]   (real-size UNet built in C# vs torch's export)
//    or: ... -- realsize --checkpoint F.safetensors|DIR [--config DIR] [--level all|extended] [--prepack on|off] [--size 512] [--steps 4] [--deep-cache N[:P]]
//    or: ... -- quantization-quality [--model models/demo-shapes] [--size 64] [--steps 20] [--prompts 24]   (PSNR of int8/int4 images)
//    or: ... -- step-cache [--model models/demo-shapes] [--size 64] [--steps 20,50] [--prompts 12] [--settings 2:0,3:0,3:1,5:0]   (DeepCache speed-up and PSNR)
//    or: ... -- transformer make --out DIR | run --folder DIR [--quantization int8|int4] [--size 256]   (real-size SD3-medium, random weights)
// The model options reach the benchmark processes through environment variables (BenchmarkSettings).
string[] remaining = BenchmarkSettings.ApplyCommandLine(args);
if (remaining is ["allocations"])
    return StepAllocationCheck.Run();
if (remaining.Length > 0 && remaining[0] == "built-unet")
    return BuiltUNetHarness.Run(remaining.AsSpan(1));
if (remaining.Length > 0 && remaining[0] == "transformer")
    return TransformerHarness.Run(remaining.AsSpan(1));
if (remaining.Length > 0 && remaining[0] == "quantization-quality")
    return QuantizationQualityHarness.Run(remaining.AsSpan(1));
if (remaining.Length > 0 && remaining[0] == "step-cache")
    return StepCacheHarness.Run(remaining.AsSpan(1));
if (remaining.Length > 0 && remaining[0] == "realsize")
    return RealSizeHarness.Run(remaining.AsSpan(1));
if (remaining.Length > 0 && remaining[0] is "overhead" or "memory")
{
    try
    {
        HarnessOptions options = HarnessOptions.Parse(remaining.AsSpan(1));
        return remaining[0] == "overhead" ? OverheadHarness.Run(options) : MemoryHarness.Run(options);
    }
    catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
    {
        Console.Error.WriteLine($"{remaining[0]}: {ex.Message}");
        return 2;
    }
}
BenchmarkSwitcher.FromAssembly(typeof(BenchmarkSettings).Assembly).Run(remaining);
return 0;
