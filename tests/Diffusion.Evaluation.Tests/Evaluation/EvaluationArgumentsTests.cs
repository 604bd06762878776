using Diffusion.Tools.DemoModelEvaluation;

namespace Diffusion.Evaluation.Tests.Evaluation;

public sealed class EvaluationArgumentsTests
{
    [Fact]
    public void OtherGuidance_IsACommaSeparatedList()
    {
        var arguments = EvaluationArguments.Parse(["--guidance", "6", "--other-guidance", "5, 7.5"]);

        Assert.Equal(6f, arguments.Guidance);
        Assert.Equal([5f, 7.5f], arguments.OtherGuidance);
    }

    [Fact]
    public void OtherGuidance_IsEmptyByDefault() => Assert.Empty(EvaluationArguments.Parse([]).OtherGuidance);

    [Theory]
    [InlineData("--guidance", "six")]
    [InlineData("--other-guidance", "5,x")]
    [InlineData("--other-guidance", "-1")]
    public void BadGuidance_IsRejectedNamingTheOption(string option, string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => EvaluationArguments.Parse([option, value]));

        Assert.Contains(option, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("int8", Diffusion.Core.Execution.WeightQuantization.Int8)]
    [InlineData("INT4", Diffusion.Core.Execution.WeightQuantization.Int4)]
    [InlineData("none", Diffusion.Core.Execution.WeightQuantization.None)]
    public void Quantization_IsParsed(string value, Diffusion.Core.Execution.WeightQuantization expected)
        => Assert.Equal(expected, EvaluationArguments.Parse(["--quantization", value]).Quantization);

    [Fact]
    public void Quantization_IsNoneByDefaultAndABadValueNamesTheOption()
    {
        Assert.Equal(Diffusion.Core.Execution.WeightQuantization.None, EvaluationArguments.Parse([]).Quantization);
        var ex = Assert.Throws<ArgumentException>(() => EvaluationArguments.Parse(["--quantization", "int2"]));
        Assert.Contains("--quantization", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IntegerCompute_FlagsAreOffByDefaultAndSetByName()
    {
        EvaluationArguments defaults = EvaluationArguments.Parse([]);
        Assert.False(defaults.QuantizeConvolutions);
        Assert.False(defaults.QuantizeActivations);
        EvaluationArguments set = EvaluationArguments.Parse(["--quantization", "int8", "--quantize-convolutions", "--quantize-activations"]);
        Assert.True(set.QuantizeConvolutions);
        Assert.True(set.QuantizeActivations);
        Assert.Equal(Diffusion.Core.Execution.WeightQuantization.Int8, set.Quantization);
    }

    [Fact]
    public void DeepCache_IsOffByDefaultAndReadsIntervalAndPoint()
    {
        Assert.Null(EvaluationArguments.Parse([]).StepCache);
        Assert.Equal(new Diffusion.Core.Pipelines.DeepCache(3, 1), EvaluationArguments.Parse(["--deep-cache", "3:1"]).StepCache);
        Assert.Equal(new Diffusion.Core.Pipelines.DeepCache(2, 0), EvaluationArguments.Parse(["--deep-cache", "2"]).StepCache);
        var ex = Assert.Throws<ArgumentException>(() => EvaluationArguments.Parse(["--deep-cache", "0"]));
        Assert.StartsWith("--deep-cache: ", ex.Message, StringComparison.Ordinal);
    }
}
