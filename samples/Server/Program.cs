using Diffusion.Server;

// The HTTP server with the repository's demo model: native jobs API with SSE, A1111's /sdapi/v1 and OpenAI's
// /v1/images/generations. Settings come from configuration (e.g. --Diffusion:Model=PATH --Diffusion:ApiKeys:0=KEY,
// --urls http://127.0.0.1:7860); see docs/serving.md.
string? demo = FindDemoModel();
var app = DiffusionServer.Build(args, options =>
{
    if (options.Model == "models/demo-shapes" && demo is not null)
        options.Model = demo;
});
app.Run();

static string? FindDemoModel()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        string candidate = Path.Combine(dir.FullName, "models", "demo-shapes");
        if (File.Exists(Path.Combine(candidate, "model_index.json")))
            return candidate;
    }
    return null;
}
