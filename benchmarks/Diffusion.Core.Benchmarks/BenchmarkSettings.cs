using Diffusion.Core.Execution;

namespace Diffusion.Core.Benchmarks;

/// <summary>
/// Model folder, execution provider and thread count for the model benchmarks. BenchmarkDotNet runs each
/// benchmark in a child process, so the settings travel as environment variables, which children inherit.
/// </summary>
public static class BenchmarkSettings
{
    private const string ModelVariable = "DIFFUSION_BENCH_MODEL";
    private const string ProviderVariable = "DIFFUSION_BENCH_PROVIDER";
    private const string ThreadsVariable = "DIFFUSION_BENCH_THREADS";

    /// <summary>The model folder: --model, else ../shared/models/tiny-sd next to the repository.</summary>
    public static string ModelDirectory =>
        Environment.GetEnvironmentVariable(ModelVariable) is { Length: > 0 } model ? model : FindSharedTinySd();

    /// <summary>The --model given on the command line (consumed before a verb sees its arguments), or <paramref name="fallback"/>.</summary>
    public static string ModelOr(string fallback) => Environment.GetEnvironmentVariable(ModelVariable) is { Length: > 0 } model ? model : fallback;

    /// <summary>The --threads given on the command line, or <paramref name="fallback"/>.</summary>
    public static int ThreadsOr(int fallback) => int.TryParse(Environment.GetEnvironmentVariable(ThreadsVariable), out int threads) ? threads : fallback;

    /// <summary>Session settings from --provider and --threads (default: CPU, 2 intra-op threads).</summary>
    public static SessionSettings Session => new()
    {
        Provider = ExecutionProvider.Parse(Environment.GetEnvironmentVariable(ProviderVariable) ?? "cpu"),
        IntraOpThreads = int.TryParse(Environment.GetEnvironmentVariable(ThreadsVariable), out int threads) ? threads : 2,
    };

    /// <summary>Consumes --model, --provider and --threads; returns the arguments left for BenchmarkDotNet.</summary>
    public static string[] ApplyCommandLine(string[] args)
    {
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string? variable = args[i] switch
            {
                "--model" => ModelVariable,
                "--provider" => ProviderVariable,
                "--threads" => ThreadsVariable,
                _ => null,
            };
            if (variable is not null && i + 1 < args.Length)
                Environment.SetEnvironmentVariable(variable, variable == ModelVariable ? Path.GetFullPath(args[++i]) : args[++i]);
            else
                rest.Add(args[i]);
        }
        return rest.ToArray();
    }

    private static string FindSharedTinySd()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Diffusion.Core.sln")))
            dir = dir.Parent;
        string root = dir?.Parent?.FullName ?? Directory.GetCurrentDirectory();
        return Path.Combine(root, "shared", "models", "tiny-sd");
    }
}
