using Diffusion.Core.Execution;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Execution;

public sealed class SessionSettingsTests
{
    [Fact]
    public void ThreadCountsUpToTheBoundAreAccepted()
    {
        Assert.True(SessionSettings.MaxThreads >= 4 * Environment.ProcessorCount);
        new SessionSettings { IntraOpThreads = SessionSettings.MaxThreads, InterOpThreads = SessionSettings.MaxThreads }.Validate();
        var error = Assert.Throws<InvalidOptionException>(new SessionSettings { IntraOpThreads = SessionSettings.MaxThreads + 1 }.Validate);
        Assert.Contains($"between 1 and {SessionSettings.MaxThreads}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultsKeepOnnxRuntimeDefaultsOnTheCpu()
    {
        var settings = new SessionSettings();

        Assert.Equal(ExecutionProvider.Cpu, settings.Provider);
        Assert.Null(settings.IntraOpThreads);
        Assert.Null(settings.InterOpThreads);
        Assert.Null(settings.GraphOptimizationLevel); // chosen by model size
        Assert.Null(settings.PrepackWeights);
        Assert.True(settings.EnableMemoryArena);
        Assert.True(settings.EnableMemoryPattern);
        Assert.Null(settings.SessionConfigEntries);
        settings.Validate();
    }

    [Theory]
    [InlineData(0, null, "SessionSettings.IntraOpThreads")]
    [InlineData(null, -2, "SessionSettings.InterOpThreads")]
    [InlineData(20000, null, "SessionSettings.IntraOpThreads")]
    [InlineData(100000, null, "SessionSettings.IntraOpThreads")]
    [InlineData(null, 20000, "SessionSettings.InterOpThreads")]
    public void ValidateRejectsThreadCountsOutsideOneToMaxThreads(int? intra, int? inter, string optionName)
    {
        var settings = new SessionSettings { IntraOpThreads = intra, InterOpThreads = inter };

        var error = Assert.Throws<InvalidOptionException>(settings.Validate);

        Assert.Equal(optionName, error.OptionName);
    }

    [Fact]
    public void ValidateRejectsAnEmptyConfigEntryKey()
    {
        var settings = new SessionSettings { SessionConfigEntries = new Dictionary<string, string> { [""] = "1" } };

        var error = Assert.Throws<InvalidOptionException>(settings.Validate);

        Assert.Equal("SessionSettings.SessionConfigEntries", error.OptionName);
    }

    [Fact]
    public void SessionOptionsCarryTheSettings()
    {
        var settings = new SessionSettings
        {
            IntraOpThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC,
            EnableMemoryArena = false,
            EnableMemoryPattern = false,
        };

        using SessionOptions options = SessionFactory.CreateSessionOptions(settings);

        Assert.Equal(1, options.IntraOpNumThreads);
        Assert.Equal(GraphOptimizationLevel.ORT_ENABLE_BASIC, options.GraphOptimizationLevel);
        Assert.False(options.EnableCpuMemArena);
        Assert.False(options.EnableMemoryPattern);
    }

    [Theory]
    [InlineData(null, GraphOptimizationLevel.ORT_ENABLE_ALL, true)]               // unknown size: ONNX Runtime's defaults
    [InlineData(1_000_000L, GraphOptimizationLevel.ORT_ENABLE_ALL, true)]         // tiny-sd's UNet
    [InlineData(SessionSettings.LargeModelBytes, GraphOptimizationLevel.ORT_ENABLE_ALL, true)]
    [InlineData(SessionSettings.LargeModelBytes + 1, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, false)]
    [InlineData(3_438_083_856L, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, false)] // SD 1.5's UNet in float32
    public void The_automatic_level_and_prepacking_follow_the_model_size(long? weightBytes, GraphOptimizationLevel level, bool prepack)
    {
        Assert.Equal((level, prepack), new SessionSettings().ResolveFor(weightBytes));
        using SessionOptions options = SessionFactory.CreateSessionOptions(new SessionSettings(), weightBytes);
        Assert.Equal(level, options.GraphOptimizationLevel);
    }

    [Fact]
    public void Explicit_settings_win_over_the_automatic_choice()
    {
        var settings = new SessionSettings { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, PrepackWeights = true };
        Assert.Equal((GraphOptimizationLevel.ORT_ENABLE_ALL, true), settings.ResolveFor(10L << 30));
        settings = new SessionSettings { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, PrepackWeights = false };
        Assert.Equal((GraphOptimizationLevel.ORT_ENABLE_BASIC, false), settings.ResolveFor(1000));
    }

    [Fact]
    public void Prepacking_is_set_by_its_property_not_a_raw_config_entry()
    {
        var settings = new SessionSettings { SessionConfigEntries = new Dictionary<string, string> { ["session.disable_prepacking"] = "1" } };
        Assert.Equal("SessionSettings.SessionConfigEntries", Assert.Throws<InvalidOptionException>(settings.Validate).OptionName);
    }

    [Fact]
    public void Spinning_keeps_onnx_runtimes_default_unless_set_and_a_config_entry_wins()
    {
        Assert.Null(new SessionSettings().AllowSpinning);
        Assert.Null(SessionFactory.SpinningValue(new SessionSettings()));
        Assert.Equal("0", SessionFactory.SpinningValue(new SessionSettings { AllowSpinning = false }));
        Assert.Equal("1", SessionFactory.SpinningValue(new SessionSettings { AllowSpinning = true }));
        var entries = new Dictionary<string, string> { [SessionFactory.AllowSpinningEntry] = "1" };
        Assert.Null(SessionFactory.SpinningValue(new SessionSettings { SessionConfigEntries = entries, AllowSpinning = false }));
        // Both values make working sessions (the demo UNet runs either way; the entry changes only how workers wait).
        string demo = Path.Combine(Diffusion.Testing.SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes", "unet", "model.onnx");
        foreach (bool spin in new[] { false, true })
        {
            using var session = SessionFactory.Create(demo, new SessionSettings { AllowSpinning = spin, IntraOpThreads = 2 });
            Assert.Contains("sample", session.InputNames);
        }
    }
}
