using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Benchmarks;

/// <summary>What a measurement ran on: CPU model and count, OS, .NET and ONNX Runtime versions, load average.</summary>
public static class MachineDescription
{
    /// <summary>One line per fact, for the top of a harness report.</summary>
    public static string Describe() =>
        $"cpu: {CpuModel()} ({Environment.ProcessorCount} logical cores visible)\n" +
        $"os: {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}\n" +
        $".net: {RuntimeInformation.FrameworkDescription}\n" +
        $"onnxruntime: {OrtEnv.Instance().GetVersionString()}\n" +
        $"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC";

    /// <summary>The 1/5/15-minute load averages from <c>/proc/loadavg</c>, or "n/a".</summary>
    public static string LoadAverage()
    {
        const string path = "/proc/loadavg";
        if (!File.Exists(path))
            return "n/a";
        string[] parts = File.ReadAllText(path).Split(' ');
        return parts.Length >= 3 ? $"{parts[0]} {parts[1]} {parts[2]}" : "n/a";
    }

    private static string CpuModel()
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path))
            return RuntimeInformation.ProcessArchitecture.ToString();
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith("model name", StringComparison.Ordinal))
                return line[(line.IndexOf(':') + 1)..].Trim();
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
