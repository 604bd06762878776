using Diffusion.Core.Execution;
using Diffusion.Core.Graphs;
using Diffusion.Core.Graphs.Proto;
using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Graphs;

/// <summary>
/// The step-caching cut (<see cref="DeepCacheGraphs"/>): at every point a UNet declares, the full graph computes what the
/// UNet does, and the cached graph fed the full graph's feature gives the same prediction from far fewer nodes.
/// </summary>
public sealed class DeepCacheGraphsTests
{
    private static readonly SessionSettings s_session = new() { IntraOpThreads = 1 };

    private static string DemoUNet => Path.Combine(Diffusion.Testing.SharedData.RepositoryRoot()!.FullName, "models", "demo-shapes", "unet", "model.onnx");

    public static TheoryData<string> UNets => ["demo", "unet-sd", "unet-sdxl"];

    private static UNet LoadUNet(string which) => which switch
    {
        "demo" => UNet.Load(DemoUNet, s_session),
        "unet-sdxl" => CheckpointUNet.Load(GraphFixtures.Fixture(which), s_session, textEmbedsWidth: 12),
        _ => CheckpointUNet.Load(GraphFixtures.Fixture(which), s_session),
    };

    private static int DeclaredPoints(UNet unet)
        => DeepCacheGraphs.Points(ModelProto.Parser.ParseFrom(unet.Source.Graph ?? File.ReadAllBytes(unet.Source.FilePath!))).Length;

    [Theory]
    [MemberData(nameof(UNets))]
    public void At_every_point_the_cached_step_from_the_full_steps_feature_is_the_whole_unet(string which)
    {
        using UNet unet = LoadUNet(which);
        int points = DeclaredPoints(unet);
        // The demo model declares its two skip concatenations; a built UNet one point per up-block layer.
        Assert.Equal(which switch { "demo" => 2, "unet-sd" => 6, _ => 9 }, points);
        var call = new UNetCall(unet, seed: 5);
        float[] whole = call.Run(unet);
        for (int point = 0; point < points; point++)
        {
            using DeepCacheUNets pair = DeepCacheUNets.Load(unet, point);
            var feature = new DeepCacheFeature();
            pair.Full.CacheFeature = feature;
            Assert.Equal(whole, call.Run(pair.Full)); // learning the feature's size
            Assert.True(feature.IsFilled);
            Assert.Equal(call.Batch, feature.Shape[0]);
            Assert.Equal(whole, call.Run(pair.Full)); // into the sized buffer
            pair.Cached.CacheFeature = feature;
            float[] cached = call.Run(pair.Cached);
            Assert.InRange(Diffusion.Core.Tests.Models.ReferenceTensors.MaxAbsDifference(cached, whole), 0f, 1e-6f);

            // A cached step at another timestep differs from the whole UNet there (the feature is the earlier step's).
            float[] later = call.Run(unet, timestep: 300f);
            Assert.NotEqual(later, call.Run(pair.Cached, timestep: 300f));
        }
    }

    [Fact]
    public void Steps_through_the_pair_allocate_almost_nothing_once_the_feature_is_sized()
    {
        using UNet unet = UNet.Load(DemoUNet, s_session);
        using DeepCacheUNets pair = DeepCacheUNets.Load(unet, 0);
        var feature = new DeepCacheFeature();
        pair.Full.CacheFeature = feature;
        pair.Cached.CacheFeature = feature;
        float[] sample = new float[2 * 4 * 8 * 8];
        float[] context = new float[2 * 77 * 64];
        float[] output = new float[sample.Length];
        void Step(int i) => (i % 3 == 0 ? pair.Full : pair.Cached).Predict(sample, 2, 8, 8, 900f - i, context, 77, output);
        for (int i = 0; i < 6; i++)
            Step(i); // sizes the feature and binds both sessions' buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        const int Calls = 30;
        for (int i = 0; i < Calls; i++)
            Step(i);
        long perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;
        TestContext.Current.SendDiagnosticMessage($"a step through the cached pair allocates {perCall} bytes.");
        Assert.InRange(perCall, 0, 64);
    }

    [Fact]
    public void The_cached_graph_of_the_point_nearest_the_output_skips_most_of_the_unet()
    {
        using UNet unet = CheckpointUNet.Load(GraphFixtures.Fixture("unet-sd"), s_session);
        ModelProto model = ModelProto.Parser.ParseFrom(unet.Source.Graph);
        (byte[] full, byte[] cached) = DeepCacheGraphs.Split(model, unet.ModelPath, 0, "sample");
        ModelProto cachedModel = ModelProto.Parser.ParseFrom(cached);
        int convs(ModelProto m) => m.Graph.Node.Count(n => n.OpType == "Conv");
        // conv_in, the last layer's resnet (2 convs and a shortcut), its transformer's 1×1 proj_in/proj_out and conv_out.
        Assert.Equal(7, convs(cachedModel));
        Assert.True(convs(model) > 4 * convs(cachedModel));
        Assert.Equal(model.Graph.Node.Count + 1, ModelProto.Parser.ParseFrom(full).Graph.Node.Count);
        Assert.Equal([.. model.Graph.Input.Select(i => i.Name), DeepCacheGraphs.FeatureName], cachedModel.Graph.Input.Select(i => i.Name));
    }

    [Fact]
    public void An_exported_unet_names_no_points_and_is_refused_by_option()
    {
        using UNet unet = UNet.Load(GraphFixtures.Fixture("sd1-onnx", "unet", "model.onnx"), s_session);
        var error = Assert.Throws<InvalidOptionException>(() => DeepCacheUNets.Load(unet, 0));
        Assert.StartsWith(nameof(GenerationOptions.StepCache), error.Message, StringComparison.Ordinal);
        Assert.Contains("declares no step-cache points", error.Message, StringComparison.Ordinal);
        Assert.Contains("unet", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_point_past_the_declared_ones_is_refused()
    {
        using UNet unet = UNet.Load(DemoUNet, s_session);
        var error = Assert.Throws<InvalidOptionException>(() => DeepCacheUNets.Load(unet, 2));
        Assert.Contains("cache point 2 asked for; the graph declares 2 (0 … 1)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no_such_value", "cache point 'no_such_value' is not the output of any node")]
    [InlineData("dead_value", "cache point 'dead_value' is not on the path to the graph's outputs")]
    public void A_point_that_is_no_value_on_the_way_to_the_output_is_refused(string point, string expected)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(DemoUNet));
        model.Graph.Node.Add(new NodeProto { OpType = "Identity", Name = "dead", Input = { "sample" }, Output = { "dead_value" } });
        model.MetadataProps.Clear();
        model.MetadataProps.Add(new StringStringEntryProto { Key = DeepCacheGraphs.PointsKey, Value = point });
        var error = Assert.Throws<ModelContractException>(() => DeepCacheGraphs.Split(model, "demo", 0, "sample"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>One UNet call's inputs (random, seeded), run through any UNet of the same contract.</summary>
    internal sealed class UNetCall
    {
        private readonly float[] _sample;
        private readonly float[] _context;
        private readonly Dictionary<string, Memory<float>>? _added;
        private readonly int _sequence = 7;
        private readonly int _width;

        public UNetCall(UNet unet, int seed)
        {
            var random = new Random(seed);
            float Next() => (float)(random.NextDouble() * 2 - 1);
            _width = unet.TextEmbeddingWidth ?? 64;
            _sample = Enumerable.Range(0, Batch * 4 * 8 * 8).Select(_ => Next()).ToArray();
            _context = Enumerable.Range(0, Batch * _sequence * _width).Select(_ => Next()).ToArray();
            if (unet.ConditioningInputs.Count > 0)
            {
                _added = unet.ConditioningInputs.ToDictionary(i => i.Name,
                    i => (Memory<float>)Enumerable.Range(0, Batch * (i.GetFixedDimension(1) ?? 1)).Select(_ => Next() * 4).ToArray());
            }
        }

        public int Batch => 2;

        public float[] Run(UNet unet, float timestep = 601f)
        {
            var output = new float[Batch * 4 * 8 * 8];
            if (_added is null)
                unet.Predict(_sample, Batch, 8, 8, timestep, _context, _sequence, output);
            else
                unet.Predict(_sample, Batch, 8, 8, timestep, _context, _sequence, _added, output);
            return output;
        }
    }
}
