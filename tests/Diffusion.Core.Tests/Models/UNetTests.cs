using Diffusion.Core.Execution;
using Diffusion.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Core.Tests.Models;

/// <summary>
/// The UNet wrapper against shared/models/tiny-sd(-variants). Reference: unet_out.f32 is the torch
/// model's out_sample for sample = unet_sample.f32 [2,4,64,64], timestep 981, encoder_hidden_states =
/// te_lh.f32 [2,77,32] (tiny-sd-variants/README.md; ORT matches it within 5e-6 there).
/// </summary>
public sealed class UNetTests(LoadedModels models) : IClassFixture<LoadedModels>
{
    private const int Batch = 2;
    private const int LatentSize = 64;
    private const int Sequence = 77;

    [Fact]
    public void DiscoversTheFloat32Contract()
    {
        UNet unet = Load(ReferenceTensors.TinySd("unet/model.onnx"));

        Assert.Equal(TensorElementKind.Float32, unet.SampleElementKind);
        Assert.Equal(TensorElementKind.Float32, unet.TimestepElementKind);
        Assert.Equal(1, unet.TimestepRank);
        Assert.Equal(32, unet.TextEmbeddingWidth);
        Assert.Null(unet.FixedBatchSize);
        Assert.Equal(4, unet.InChannels);
        Assert.Equal(4, unet.OutChannels);
        Assert.Equal("out_sample", unet.NoisePredictionOutput.Name);
        Assert.Equal("batch", unet.SampleInput.SymbolicDimensions[0]);
        Assert.Equal(-1, unet.SampleInput.Dimensions[0]);
    }

    [Theory]
    [InlineData("unet-timestep-int64/model.onnx", TensorElementKind.Float32, TensorElementKind.Int64, 1)]
    [InlineData("unet-timestep-scalar/model.onnx", TensorElementKind.Float32, TensorElementKind.Float32, 0)]
    [InlineData("unet-fp16/model.onnx", TensorElementKind.Float16, TensorElementKind.Float16, 1)]
    [InlineData("unet-external-data/model.onnx", TensorElementKind.Float32, TensorElementKind.Float32, 1)]
    public void DiscoversTheVariantContracts(string variant, TensorElementKind sampleKind, TensorElementKind timestepKind, int timestepRank)
    {
        UNet unet = Load(ReferenceTensors.Variant(variant));

        Assert.Equal(sampleKind, unet.SampleElementKind);
        Assert.Equal(timestepKind, unet.TimestepElementKind);
        Assert.Equal(timestepRank, unet.TimestepRank);
        Assert.Equal(32, unet.TextEmbeddingWidth);
        Assert.Equal(4, unet.InChannels);
    }

    [Theory]
    [InlineData("unet-timestep-int64/model.onnx")]
    [InlineData("unet-timestep-scalar/model.onnx")]
    [InlineData("unet-external-data/model.onnx")]
    public void Float32VariantsMatchTheTorchReference(string variant)
    {
        float[] prediction = RunReference(ReferenceTensors.Variant(variant));

        float maxDifference = ReferenceTensors.MaxAbsDifference(prediction, ReferenceTensors.ReadFloats("unet_out.f32"));
        TestContext.Current.SendDiagnosticMessage($"max |diff| vs unet_out.f32: {maxDifference:G3}");
        Assert.InRange(maxDifference, 0f, 1e-4f);
    }

    [Fact]
    public void Float32UNetMatchesTheTorchReference()
    {
        float[] prediction = RunReference(ReferenceTensors.TinySd("unet/model.onnx"));

        float maxDifference = ReferenceTensors.MaxAbsDifference(prediction, ReferenceTensors.ReadFloats("unet_out.f32"));
        TestContext.Current.SendDiagnosticMessage($"max |diff| vs unet_out.f32: {maxDifference:G3}");
        Assert.InRange(maxDifference, 0f, 1e-4f);
    }

    [Fact]
    public void Float16UNetIsWithinHalfPrecisionOfTheTorchReference()
    {
        // README: on the reference, mean |fp16 - fp32| ≈ 0.004, max ≈ 0.022.
        float[] prediction = RunReference(ReferenceTensors.Variant("unet-fp16/model.onnx"));

        float maxDifference = ReferenceTensors.MaxAbsDifference(prediction, ReferenceTensors.ReadFloats("unet_out.f32"));
        TestContext.Current.SendDiagnosticMessage($"fp16 max |diff| vs unet_out.f32: {maxDifference:G3}");
        Assert.InRange(maxDifference, 0f, 0.03f);
    }

    [Fact]
    public void RepeatedCallsReuseTheSessionAndGiveIdenticalResults()
    {
        UNet unet = Load(ReferenceTensors.TinySd("unet/model.onnx"));
        (float[] sample, float[] embeddings) = SmallInputs(seed: 1);
        float[] first = new float[sample.Length];
        float[] second = new float[sample.Length];
        long sessions = SessionFactory.SessionsCreatedOnCurrentThread;

        unet.Predict(sample, 1, Small, Small, 981f, embeddings, Sequence, first);
        unet.Predict(sample, 1, Small, Small, 981f, embeddings, Sequence, second);

        Assert.Equal(sessions, SessionFactory.SessionsCreatedOnCurrentThread);
        Assert.Equal(first, second);
    }

    [Fact]
    public void InputsChangedInPlaceAndNewBuffersAreBothSeen()
    {
        // The wrapper keeps its binding while the same buffers are passed; it must still read the new contents.
        UNet unet = Load(ReferenceTensors.TinySd("unet/model.onnx"));
        (float[] values, float[] embeddings) = SmallInputs(seed: 2);
        float[] sample = new float[values.Length];
        float[] output = new float[values.Length];

        unet.Predict(sample, 1, Small, Small, 981f, embeddings, Sequence, output);
        float[] fromZeros = (float[])output.Clone();
        values.CopyTo(sample, 0);
        unet.Predict(sample, 1, Small, Small, 981f, embeddings, Sequence, output);
        float[] otherOutput = new float[values.Length];
        unet.Predict((float[])values.Clone(), 1, Small, Small, 981f, embeddings, Sequence, otherOutput);

        Assert.True(ReferenceTensors.MaxAbsDifference(fromZeros, output) > 1e-3f);
        Assert.Equal(output, otherOutput);
    }

    [Fact]
    public void TimestepChangesBetweenCallsAreSeenAndInt64TruncatesLikeNumpy()
    {
        UNet unet = Load(ReferenceTensors.Variant("unet-timestep-int64/model.onnx"));
        (float[] sample, float[] embeddings) = SmallInputs(seed: 3);
        float[] atOne = new float[sample.Length];
        float[] at981 = new float[sample.Length];
        float[] output = new float[sample.Length];

        unet.Predict(sample, 1, Small, Small, 1f, embeddings, Sequence, atOne);
        unet.Predict(sample, 1, Small, Small, 981f, embeddings, Sequence, at981);
        unet.Predict(sample, 1, Small, Small, 981.9f, embeddings, Sequence, output);

        Assert.Equal(at981, output); // np.array([981.9], dtype=np.int64) == [981]
        Assert.True(ReferenceTensors.MaxAbsDifference(atOne, at981) > 1e-3f);
    }

    [Theory]
    [InlineData("fp32", 20, 1f)] // tiny-sd's UNet; a new timestep each call
    [InlineData("fp16", 10, 0f)] // the fp16 variant (float16 I/O converted in place)
    public void RepeatedPredictWithTheSameBuffersAllocatesAlmostNothing(string precision, int calls, float timestepDecrement)
    {
        UNet unet = Load(precision == "fp16" ? ReferenceTensors.Variant("unet-fp16/model.onnx") : ReferenceTensors.TinySd("unet/model.onnx"));
        const int size = 8;
        float[] sample = new float[1 * 4 * size * size];
        float[] embeddings = new float[1 * Sequence * 32];
        float[] output = new float[sample.Length];
        unet.Predict(sample, 1, size, size, 981f, embeddings, Sequence, output);
        unet.Predict(sample, 1, size, size, 981f, embeddings, Sequence, output);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < calls; i++)
            unet.Predict(sample, 1, size, size, 981f - timestepDecrement * i, embeddings, Sequence, output);
        long perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / calls;

        TestContext.Current.SendDiagnosticMessage($"UNet.Predict allocates {perCall} bytes per call ({precision}, same buffers).");
        Assert.InRange(perCall, 0, 64);
    }

    [Fact]
    public void TerminateFromAnotherThreadCancelsARunAndTheUNetStillWorksAfterwards()
    {
        UNet unet = Load(ReferenceTensors.TinySd("unet/model.onnx"));
        const int size = 128; // batch 2 at 128x128 latents: a run of several hundred ms on this machine
        float[] sample = new float[Batch * 4 * size * size];
        float[] embeddings = ReferenceTensors.ReadFloats("te_lh.f32");
        float[] output = new float[sample.Length];
        using var runOptions = new RunOptions();

        using var started = new ManualResetEventSlim();
        Task run = Task.Run(() =>
        {
            started.Set();
            unet.Predict(sample, Batch, size, size, 981f, embeddings, Sequence, output, runOptions);
        }, TestContext.Current.CancellationToken);
        started.Wait(TestContext.Current.CancellationToken);
        Thread.Sleep(30);
        runOptions.Terminate = true;

        var error = Assert.Throws<AggregateException>(() => run.Wait(TestContext.Current.CancellationToken));
        Assert.IsType<OperationCanceledException>(error.InnerException);

        // A fresh RunOptions runs normally again on the same session.
        float[] reference = ReferenceTensors.ReadFloats("unet_sample.f32");
        float[] prediction = new float[reference.Length];
        using var freshOptions = new RunOptions();
        unet.Predict(reference, Batch, LatentSize, LatentSize, 981f, embeddings, Sequence, prediction, freshOptions);
        Assert.InRange(ReferenceTensors.MaxAbsDifference(prediction, ReferenceTensors.ReadFloats("unet_out.f32")), 0f, 1e-4f);
    }

    [Fact]
    public void WrongBufferLengthIsRejectedNamingTheTensor()
    {
        UNet unet = Load(ReferenceTensors.TinySd("unet/model.onnx"));
        float[] embeddings = new float[Batch * Sequence * 32];

        var error = Assert.Throws<ArgumentException>(() =>
            unet.Predict(new float[10], Batch, 8, 8, 1f, embeddings, Sequence, new float[Batch * 4 * 64]));

        Assert.Equal("sample", error.ParamName);
        Assert.Contains("'sample'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StaticShapeExportsGetAOneElementTimestepAndTheirFixedShapesEnforced()
    {
        // unet-static-shape.onnx (tools/reference-data/models): sample [2,4,8,8], timestep [1], out_sample = sample + timestep.
        UNet unet = Load(ReferenceTensors.TestModel("unet-static-shape.onnx"));
        float[] sample = new float[2 * 4 * 8 * 8];
        sample[5] = 1.5f;
        float[] embeddings = new float[2 * Sequence * 32];
        float[] output = new float[sample.Length];

        unet.Predict(sample, 2, 8, 8, 10f, embeddings, Sequence, output);

        Assert.Equal(2, unet.FixedBatchSize);
        Assert.Equal(11.5f, output[5]);
        Assert.Equal(10f, output[^1]);
        var wrongBatch = Assert.Throws<ArgumentException>(() =>
            unet.Predict(new float[4 * 64], 1, 8, 8, 1f, new float[Sequence * 32], Sequence, new float[4 * 64]));
        Assert.Contains("batch", wrongBatch.Message, StringComparison.Ordinal);
        var wrongSize = Assert.Throws<ArgumentException>(() =>
            unet.Predict(new float[2 * 4 * 16 * 16], 2, 16, 16, 1f, embeddings, Sequence, new float[2 * 4 * 16 * 16]));
        Assert.Equal("sample", wrongSize.ParamName);
    }

    [Fact]
    public void APredictionBufferOverlappingTheSampleIsRejected()
    {
        UNet unet = Load(ReferenceTensors.TestModel("unet-static-shape.onnx"));
        float[] sample = new float[2 * 4 * 8 * 8];

        var error = Assert.Throws<ArgumentException>(() =>
            unet.Predict(sample, 2, 8, 8, 1f, new float[2 * Sequence * 32], Sequence, sample));

        Assert.Equal("noisePrediction", error.ParamName);
    }

    [Fact]
    public void MisnamedInputsAreAContractErrorNamingFileTensorAndWhatWasFound()
    {
        string path = ReferenceTensors.TestModel("unet-misnamed-inputs.onnx");

        var error = Assert.Throws<ModelContractException>(() => UNet.Load(path));

        Assert.Equal(path, error.ModelPath);
        Assert.Equal("sample", error.TensorName);
        Assert.Contains("noisy_input", error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnsupportedTimestepTypeIsAContractErrorNamingTheTimestep()
    {
        string path = ReferenceTensors.TestModel("unet-timestep-float64.onnx");

        var error = Assert.Throws<ModelContractException>(() => UNet.Load(path));

        Assert.Equal("timestep", error.TensorName);
    }

    [Fact]
    public void AUNetPathWithoutAFileIsAModelLoadException()
    {
        string path = Path.Combine(Path.GetTempPath(), $"no-unet-{Guid.NewGuid():N}", "model.onnx");

        var error = Assert.Throws<ModelLoadException>(() => UNet.Load(path));

        Assert.Equal(path, error.Path);
    }

    private const int Small = 8;

    private UNet Load(string path) => models.Get(path, p => UNet.Load(p));

    private static (float[] Sample, float[] Embeddings) SmallInputs(int seed)
    {
        var random = new Random(seed);
        float[] sample = new float[4 * Small * Small];
        float[] embeddings = new float[Sequence * 32];
        for (int i = 0; i < sample.Length; i++)
            sample[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < embeddings.Length; i++)
            embeddings[i] = (float)(random.NextDouble() * 2 - 1);
        return (sample, embeddings);
    }

    private float[] RunReference(string modelPath)
    {
        UNet unet = Load(modelPath);
        float[] sample = ReferenceTensors.ReadFloats("unet_sample.f32");
        float[] embeddings = ReferenceTensors.ReadFloats("te_lh.f32");
        float[] prediction = new float[sample.Length];
        unet.Predict(sample, Batch, LatentSize, LatentSize, 981f, embeddings, Sequence, prediction);
        return prediction;
    }
}
