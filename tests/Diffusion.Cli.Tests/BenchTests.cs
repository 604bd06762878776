using System.Text.Json;

namespace Diffusion.Cli.Tests;

[Collection(ToolCollection.Name)]
public sealed class BenchTests(InstalledTool tool) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-cli-bench-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Every_combination_is_timed_and_written_as_csv_and_json()
    {
        var run = tool.Run(_folder, null, "bench", "--schedulers", "Euler a,DPM++ 2M Karras", "--steps", "2,3", "--sizes", "64x64,64x96",
            "--runs", "1", "--warmup", "0", "--csv", "out/bench.csv", "--json", "out/bench.json");

        Assert.True(run.ExitCode == 0, run.ToString());
        string[] csv = File.ReadAllLines(Path.Combine(_folder, "out", "bench.csv"));
        Assert.StartsWith("provider,scheduler,steps,width,height,runs,median_total_ms", csv[0], StringComparison.Ordinal);
        Assert.Equal(9, csv.Length); // header + 2 schedulers × 2 step counts × 2 sizes
        Assert.Contains(csv, line => line.StartsWith("cpu,DPM++ 2M Karras,3,64,96,1,", StringComparison.Ordinal));
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder, "out", "bench.json")));
        Assert.Equal(8, json.RootElement.GetArrayLength());
        foreach (JsonElement row in json.RootElement.EnumerateArray())
        {
            Assert.True(row.GetProperty("median_total_ms").GetDouble() > 0);
            Assert.True(row.GetProperty("denoiser_ms_per_step").GetDouble() > 0);
        }
    }

    [Theory]
    [InlineData("--sizes", "64by64", "WIDTHxHEIGHT")]
    [InlineData("--sizes", "60x64", "multiples of 8")]
    [InlineData("--steps", "0", "--steps")]
    [InlineData("--providers", "quantum", "quantum")]
    public void Bad_values_exit_2_before_anything_is_measured(string option, string value, string named)
    {
        var run = tool.Run(_folder, null, "bench", option, value);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(named, run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("loaded", run.Output, StringComparison.Ordinal);
    }
}
