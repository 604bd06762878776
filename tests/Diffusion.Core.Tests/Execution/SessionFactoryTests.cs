using Diffusion.Core.Execution;
using Diffusion.Core.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Execution;

/// <summary>
/// The test host references only the CPU package Microsoft.ML.OnnxRuntime, so CUDA and DirectML are
/// unavailable here (shared/notes/onnxruntime-facts.md: GetAvailableProviders lists only CPUExecutionProvider).
/// </summary>
public sealed class SessionFactoryTests
{
    [Theory]
    [InlineData("cuda", "Microsoft.ML.OnnxRuntime.Gpu")]
    [InlineData("dml", "Microsoft.ML.OnnxRuntime.DirectML")]
    [InlineData("tensorrt", "Microsoft.ML.OnnxRuntime.Gpu")]
    public void UnavailableProviderFailsBeforeAnyModelIsReadNamingThePackage(string providerText, string package)
    {
        var settings = new SessionSettings { Provider = ExecutionProvider.Parse(providerText) };
        long sessionsBefore = SessionFactory.SessionsCreatedOnCurrentThread;

        // The path does not exist: a ModelLoadException would mean the model was looked at first.
        var error = Assert.Throws<ExecutionProviderUnavailableException>(
            () => SessionFactory.Create(Path.Combine(Path.GetTempPath(), "no-such-model.onnx"), settings));

        TestContext.Current.SendDiagnosticMessage(error.Message);
        Assert.Equal(package, error.NativePackage);
        Assert.Contains(package, error.Message, StringComparison.Ordinal);
        Assert.Equal(settings.Provider, error.Provider);
        Assert.Equal(sessionsBefore, SessionFactory.SessionsCreatedOnCurrentThread);
    }

    [Fact]
    public void EnsureAvailableAcceptsTheCpuAndRejectsCuda()
    {
        SessionFactory.EnsureAvailable(ExecutionProvider.Cpu);

        var error = Assert.Throws<ExecutionProviderUnavailableException>(() => SessionFactory.EnsureAvailable(ExecutionProvider.Cuda()));
        Assert.Contains("CPUExecutionProvider", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AppendingAProviderThisBuildLacksIsReportedAsUnavailable()
    {
        // Bypasses the GetAvailableProviders check: the append itself must fail with the typed error
        // (EntryPointNotFoundException from the CPU-only native library, per the notes).
        var settings = new SessionSettings { Provider = ExecutionProvider.DirectML() };

        var error = Assert.Throws<ExecutionProviderUnavailableException>(() => SessionFactory.CreateSessionOptions(settings).Dispose());

        Assert.NotNull(error.InnerException);
        Assert.Equal("Microsoft.ML.OnnxRuntime.DirectML", error.NativePackage);
    }

    [Fact]
    public void MissingModelFileIsAModelLoadExceptionNamingIt()
    {
        string path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.onnx");

        var error = Assert.Throws<ModelLoadException>(() => SessionFactory.Create(path, SessionSettings.Default));

        Assert.Equal(path, error.Path);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CorruptModelFileIsAModelLoadExceptionWrappingTheOnnxRuntimeError()
    {
        string path = Path.Combine(Path.GetTempPath(), $"corrupt-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, [0x08, 0xFF, 0xFF, 0x00, 0x42, 0x13, 0x37]);
        try
        {
            var error = Assert.Throws<ModelLoadException>(() => SessionFactory.Create(path, SessionSettings.Default));

            Assert.Equal(path, error.Path);
            Assert.IsType<OnnxRuntimeException>(error.InnerException);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ExternalWeightsBesideTheModelAreFoundWhenLoadingFromThePath()
    {
        // unet-external-data/model.onnx keeps all initializers in weights.pb next to it.
        string path = ReferenceTensors.Variant("unet-external-data/model.onnx");

        using InferenceSession session = SessionFactory.Create(path, SessionSettings.Default);

        Assert.Contains("sample", session.InputNames);
    }

    [Fact]
    public void EachCreateCountsOneSession()
    {
        string path = ReferenceTensors.TestModel("unet-misnamed-inputs.onnx");
        long before = SessionFactory.SessionsCreatedOnCurrentThread;
        long beforeGlobal = SessionFactory.SessionsCreated;

        using (SessionFactory.Create(path, SessionSettings.Default))
        using (SessionFactory.Create(path, SessionSettings.Default))
        {
        }

        Assert.Equal(before + 2, SessionFactory.SessionsCreatedOnCurrentThread);
        Assert.True(SessionFactory.SessionsCreated >= beforeGlobal + 2);
    }
}
