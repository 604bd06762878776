namespace Diffusion.Core.Tests;

public sealed class SharedDataTests
{
    [Fact]
    public void TinySdFolderIsFound()
    {
        string path = SharedData.Require("models/tiny-sd/model_index.json");
        Assert.True(File.Exists(path));
    }
}
