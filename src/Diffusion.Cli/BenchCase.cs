namespace Diffusion.Cli;

/// <summary>One measured combination of <c>diffusion bench</c> and its timings (milliseconds), as written to the table, CSV and JSON.</summary>
internal sealed record BenchCase(
    string Provider, string Scheduler, int Steps, int Width, int Height, int Runs,
    double MedianTotalMs, double MinTotalMs, double MeanTotalMs, double DenoiserMsPerStep, double SchedulerMsPerStep,
    double TextEncoderMs, double VaeDecoderMs, double StepsPerSecond, double LoadSeconds);
