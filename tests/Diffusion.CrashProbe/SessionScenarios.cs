using Diffusion.Core.Execution;
using Diffusion.Core.TextEncoding;

namespace Diffusion.CrashProbe;

/// <summary>Session creation with settings that used to hang or crash ONNX Runtime.</summary>
internal static class SessionScenarios
{
    /// <summary>session-threads MODEL N: loads a text encoder with N intra-op threads (20000 used to hang, 100000 to segfault).</summary>
    public static string CreateWithThreads(string[] args)
    {
        int threads = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
        using TextEncoder encoder = TextEncoder.Load(args[0], new SessionSettings { IntraOpThreads = threads });
        return $"loaded with {threads} threads";
    }
}
