using Diffusion.Core.Tests.Adapters;
using Diffusion.Core.Weights;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Core.Tests.Weights;

public class OnnxWeightReaderTests
{
    [Fact]
    public void MatMulWeightsAreAnonymousAndFoundThroughTheNodeName()
    {
        OnnxModelGraph graph = OnnxWeightReader.Read(LoraFixtures.UNet);

        OnnxNode toQ = graph.Nodes.Single(n => n.Name == "/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul");
        OnnxInitializer weight = graph.Initializers[toQ.Inputs[1]];

        Assert.Equal("MatMul", toQ.OpType);
        Assert.StartsWith("onnx::MatMul_", weight.Name);
        Assert.Equal([8L, 8L], weight.Dims);
        Assert.Equal(TensorElementType.Float, weight.ElementType);
        Assert.Equal(["sample", "temb", "encoder_hidden_states"], graph.Inputs);
    }

    [Fact]
    public void GemmKeepsTheTorchNameAndTransB()
    {
        OnnxModelGraph graph = OnnxWeightReader.Read(LoraFixtures.UNet);

        OnnxNode gemm = graph.Nodes.Single(n => n.OpType == "Gemm");

        Assert.Equal("time_embedding.linear_1.weight", gemm.Inputs[1]);
        Assert.Equal(1L, gemm.TransB);
    }

    [Fact]
    public void ExternalDataInitializersReadTheSameValuesAsEmbeddedOnes()
    {
        OnnxModelGraph embedded = OnnxWeightReader.Read(LoraFixtures.UNet);
        OnnxModelGraph external = OnnxWeightReader.Read(LoraFixtures.PathOf("unet_external/model.onnx"));

        int compared = 0;
        foreach (OnnxInitializer initializer in embedded.Initializers.Values.Where(i => i.ElementType == TensorElementType.Float))
        {
            OnnxInitializer other = external.Initializers[initializer.Name];
            Assert.Equal(OnnxDataStorage.External, other.Storage);
            Assert.Equal(embedded.ReadAsFloat32(initializer), external.ReadAsFloat32(other));
            compared++;
        }
        Assert.True(compared >= 20, $"only {compared} float initializers compared");
    }

    [Fact]
    public void Float16InitializersAreWidenedExactly()
    {
        OnnxModelGraph fp32 = OnnxWeightReader.Read(LoraFixtures.UNet);
        OnnxModelGraph fp16 = OnnxWeightReader.Read(LoraFixtures.PathOf("unet_fp16.onnx"));

        OnnxInitializer conv = fp16.Initializers["conv_in.weight"];
        float[] widened = fp16.ReadAsFloat32(conv);
        float[] reference = fp32.ReadAsFloat32(fp32.Initializers["conv_in.weight"]);

        Assert.Equal(TensorElementType.Float16, conv.ElementType);
        for (int i = 0; i < reference.Length; i++)
            Assert.Equal((float)(Half)reference[i], widened[i]); // the generator rounded with numpy astype(float16)
    }

    [Fact]
    public void TinySdExternalDataUNetReadsWithoutLoadingPayloadsIntoTheGraph()
    {
        string path = SharedData.Require("models/tiny-sd-variants/unet-external-data/model.onnx");
        string embeddedPath = SharedData.Require("models/tiny-sd/unet/model.onnx");

        OnnxModelGraph graph = OnnxWeightReader.Read(path);
        OnnxModelGraph embedded = OnnxWeightReader.Read(embeddedPath);

        Assert.Equal(58, graph.Nodes.Count(n => n.OpType == "MatMul"));
        Assert.Equal(29, graph.Nodes.Count(n => n.OpType == "Conv"));
        Assert.Equal(embedded.ReadAsFloat32(embedded.Initializers["d2.c1.weight"]), graph.ReadAsFloat32(graph.Initializers["d2.c1.weight"]));
    }

    [Fact]
    public void ReadingTheGraphSkipsTensorPayloads()
    {
        // tiny-sd's text encoder is 6.4 MB, 6.3 MB of it the token-embedding raw_data; mapping must not read it.
        string path = SharedData.Require("models/tiny-sd/text_encoder/model.onnx");
        OnnxWeightReader.Read(path); // JIT and file cache

        long before = GC.GetAllocatedBytesForCurrentThread();
        OnnxModelGraph graph = OnnxWeightReader.Read(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal([49408L, 32L], graph.Initializers["tok.weight"].Dims);
        Assert.True(allocated < 1_000_000, $"allocated {allocated} bytes");
    }

    [Fact]
    public void AMissingModelIsAModelLoadException()
    {
        var error = Assert.Throws<ModelLoadException>(() => OnnxWeightReader.Read(LoraFixtures.PathOf("missing.onnx")));

        Assert.EndsWith("missing.onnx", error.Path);
    }

    [Fact]
    public void ATruncatedModelIsAModelLoadException()
    {
        byte[] bytes = File.ReadAllBytes(LoraFixtures.UNet);
        string path = SafeTensorsTestFile.WriteBytes("truncated.onnx", bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<ModelLoadException>(() => OnnxWeightReader.Read(path));

        Assert.Contains("malformed ONNX protobuf", error.Message);
    }

    [Theory]
    [MemberData(nameof(FuzzRegressions))]
    public void Inputs_the_fuzzer_found_give_a_ModelLoadException(string file)
        => Assert.Throws<ModelLoadException>(() => OnnxWeightReader.Read(file));

    public static TheoryData<string> FuzzRegressions() => new(FuzzCorpus.Regressions("onnx-weights"));
}
