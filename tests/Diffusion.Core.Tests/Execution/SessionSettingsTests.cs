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
        Assert.Equal(GraphOptimizationLevel.ORT_ENABLE_ALL, settings.GraphOptimizationLevel);
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
}
