using Diffusion.Core.Models;
using Diffusion.Core.Pipelines;

namespace Diffusion.Core.Tests.Pipelines;

public sealed class UNetModelPathTests
{
    [Fact]
    public void LoadsTheGivenUNetInsteadOfTheFolders()
    {
        string int64 = SharedData.Require("models/tiny-sd-variants/unet-timestep-int64/model.onnx");
        using var pipeline = TinySd.Load(new PipelineSettings { Session = TinySd.Session, UNetModelPath = int64 });

        Assert.Equal(int64, pipeline.UNet.ModelPath);
        Assert.Equal(TensorElementKind.Int64, pipeline.UNet.TimestepElementKind);
        ImageAssert.SingleImage(pipeline.Generate(TinySd.SmallOptions("DDIM")), 64, 64);
    }

    [Fact]
    public void AMissingUNetFileIsAModelLoadErrorNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-unet.onnx");

        var error = Assert.Throws<ModelLoadException>(() => TinySd.Load(new PipelineSettings { Session = TinySd.Session, UNetModelPath = missing }));
        Assert.Equal(missing, error.Path);
    }
}
