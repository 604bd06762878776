using Diffusion.Core.Execution;

namespace Diffusion.Core.Tests.Execution;

public sealed class ExecutionProviderTests
{
    [Theory]
    [InlineData("cpu", ExecutionProviderKind.Cpu, 0)]
    [InlineData("CUDA", ExecutionProviderKind.Cuda, 0)]
    [InlineData("cuda:1", ExecutionProviderKind.Cuda, 1)]
    [InlineData("directml", ExecutionProviderKind.DirectML, 0)]
    [InlineData("dml:0", ExecutionProviderKind.DirectML, 0)]
    [InlineData(" dml:2 ", ExecutionProviderKind.DirectML, 2)]
    [InlineData("coreml", ExecutionProviderKind.CoreML, 0)]
    [InlineData("trt:1", ExecutionProviderKind.TensorRT, 1)]
    [InlineData("openvino", ExecutionProviderKind.OpenVino, 0)]
    [InlineData("rocm", ExecutionProviderKind.Rocm, 0)]
    public void ParseReadsNameAndDeviceIndex(string text, ExecutionProviderKind kind, int deviceId)
    {
        ExecutionProvider provider = ExecutionProvider.Parse(text);

        Assert.Equal(kind, provider.Kind);
        Assert.Equal(deviceId, provider.DeviceId);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("")]
    public void ParseRejectsUnknownTextNamingTheOption(string text)
    {
        var error = Assert.Throws<InvalidOptionException>(() => ExecutionProvider.Parse(text));

        Assert.Equal("ExecutionProvider", error.OptionName);
    }

    [Fact]
    public void ToStringRoundTripsThroughParse()
    {
        ExecutionProvider[] providers = [ExecutionProvider.Cpu, ExecutionProvider.Cuda(1), ExecutionProvider.DirectML(2), new(ExecutionProviderKind.CoreML)];

        foreach (ExecutionProvider provider in providers)
            Assert.Equal(provider, ExecutionProvider.Parse(provider.ToString()));
    }

    [Theory]
    [InlineData(ExecutionProviderKind.Cpu, "Microsoft.ML.OnnxRuntime")]
    [InlineData(ExecutionProviderKind.Cuda, "Microsoft.ML.OnnxRuntime.Gpu")]
    [InlineData(ExecutionProviderKind.TensorRT, "Microsoft.ML.OnnxRuntime.Gpu")]
    [InlineData(ExecutionProviderKind.DirectML, "Microsoft.ML.OnnxRuntime.DirectML")]
    [InlineData(ExecutionProviderKind.CoreML, "Microsoft.ML.OnnxRuntime")]
    [InlineData(ExecutionProviderKind.OpenVino, "Intel.ML.OnnxRuntime.OpenVino")]
    public void NativePackageNamesTheNuGetPackageThatBringsTheProvider(ExecutionProviderKind kind, string package)
    {
        Assert.Equal(package, new ExecutionProvider(kind).NativePackage);
    }

    [Fact]
    public void NegativeDeviceIdIsRejected()
    {
        var error = Assert.Throws<InvalidOptionException>(() => ExecutionProvider.Cuda(-1));

        Assert.Equal("ExecutionProvider.DeviceId", error.OptionName);
    }
}
