using Diffusion.Core.Models;
using Diffusion.Core.Tests.Models;
using Diffusion.Core.TextEncoding;

namespace Diffusion.Core.Tests.TextEncoding;

/// <summary>
/// The text encoder wrapper. Reference: te_lh.f32 [2,77,32] is the torch text encoder's last_hidden_state
/// for te_ids.i32 [2,77] (shared/models/tiny-sd-variants/README.md).
/// </summary>
public sealed class TextEncoderTests(LoadedModels models) : IClassFixture<LoadedModels>
{
    [Theory]
    [InlineData("models/tiny-sd/text_encoder/model.onnx", TensorElementKind.Int32)]
    [InlineData("models/tiny-sd-variants/text-encoder-int64/model.onnx", TensorElementKind.Int64)]
    public void DiscoversTheContract(string model, TensorElementKind idsKind)
    {
        TextEncoder encoder = Load(SharedData.Require(model));

        Assert.Equal(idsKind, encoder.InputIdsElementKind);
        Assert.Equal(32, encoder.HiddenSize);
        Assert.Equal("last_hidden_state", encoder.LastHiddenStateOutput.Name);
        Assert.Null(encoder.FixedSequenceLength);
    }

    [Theory]
    [InlineData("models/tiny-sd/text_encoder/model.onnx")]
    [InlineData("models/tiny-sd-variants/text-encoder-int64/model.onnx")]
    public void MatchesTheTorchReference(string model)
    {
        TextEncoder encoder = Load(SharedData.Require(model));
        int[] ids = ReferenceTensors.ReadInts("te_ids.i32");
        float[] hidden = new float[2 * 77 * 32];

        encoder.Encode(ids, 2, 77, hidden);

        float maxDifference = ReferenceTensors.MaxAbsDifference(hidden, ReferenceTensors.ReadFloats("te_lh.f32"));
        TestContext.Current.SendDiagnosticMessage($"text encoder max |diff| vs te_lh.f32: {maxDifference:G3}");
        Assert.InRange(maxDifference, 0f, 1e-4f);
    }

    [Fact]
    public void IdsChangedInPlaceAreSeen()
    {
        TextEncoder encoder = Load(SharedData.Require("models/tiny-sd/text_encoder/model.onnx"));
        int[] ids = ReferenceTensors.ReadInts("te_ids.i32");
        int[] swapped = new int[ids.Length];
        ids.AsSpan(77, 77).CopyTo(swapped);
        ids.AsSpan(0, 77).CopyTo(swapped.AsSpan(77));
        float[] hidden = new float[2 * 77 * 32];
        float[] reference = ReferenceTensors.ReadFloats("te_lh.f32");

        encoder.Encode(ids, 2, 77, hidden);
        swapped.CopyTo(ids, 0);
        encoder.Encode(ids, 2, 77, hidden);

        // Rows swapped: row 0 now holds the reference's row 1.
        Assert.InRange(ReferenceTensors.MaxAbsDifference(hidden.AsSpan(0, 77 * 32), reference.AsSpan(77 * 32)), 0f, 1e-4f);
    }

    [Fact]
    public void DynamicHiddenSizeIsLearntByOneRun()
    {
        // text-encoder-dynamic-hidden.onnx (tools/reference-data/models): a 16 x 6 table, table[i, j] = i + j / 10.
        TextEncoder encoder = Load(ReferenceTensors.TestModel("text-encoder-dynamic-hidden.onnx"));
        Assert.Null(encoder.HiddenSize);

        Assert.Equal(6, encoder.GetHiddenSize());
        Assert.Equal(6, encoder.HiddenSize);

        float[] hidden = new float[2 * 2 * 6];
        encoder.Encode(new[] { 1, 2, 3, 0 }, 2, 2, hidden);
        Assert.Equal(3.5f, hidden[2 * 6 + 5], 1e-6f); // token 3, column 5
    }

    [Fact]
    public void WrongOutputLengthIsRejectedNamingTheTensor()
    {
        TextEncoder encoder = Load(SharedData.Require("models/tiny-sd/text_encoder/model.onnx"));

        var error = Assert.Throws<ArgumentException>(() => encoder.Encode(new int[77], 1, 77, new float[77 * 31]));

        Assert.Contains("last_hidden_state", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MisnamedInputIsAContractErrorNamingInputIds()
    {
        string path = ReferenceTensors.TestModel("unet-misnamed-inputs.onnx");

        var error = Assert.Throws<ModelContractException>(() => TextEncoder.Load(path));

        Assert.Equal("input_ids", error.TensorName);
        Assert.Contains("noisy_input", error.Message, StringComparison.Ordinal);
    }

    private TextEncoder Load(string path) => models.Get(path, p => TextEncoder.Load(p));
}
