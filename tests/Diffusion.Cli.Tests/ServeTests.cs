using System.Net.Http.Json;
using System.Text.Json;

namespace Diffusion.Cli.Tests;

[Collection(ToolCollection.Name)]
public sealed class ServeTests(InstalledTool tool) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("diffusion-cli-serve-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Serve_answers_an_a1111_request_with_the_demo_model()
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var server = tool.Start(_folder, "serve", "--urls", $"http://127.0.0.1:{port}", "--api-key", "k1");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            CancellationToken ct = TestContext.Current.CancellationToken;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    if ((await client.GetAsync("/health", ct)).IsSuccessStatusCode)
                        break;
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline && !server.HasExited)
                {
                }
                Assert.False(server.HasExited, $"diffusion serve exited with {(server.HasExited ? server.ExitCode : 0)}");
                await Task.Delay(100, ct);
            }
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await client.PostAsJsonAsync("/sdapi/v1/txt2img", new { prompt = "x" }, ct)).StatusCode);
            client.DefaultRequestHeaders.Add("X-Api-Key", "k1");
            HttpResponseMessage response = await client.PostAsJsonAsync("/sdapi/v1/txt2img", new { prompt = "a red circle", steps = 3, width = 64, height = 64 }, ct);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(ct));
            using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            Assert.Single(json.RootElement.GetProperty("images").EnumerateArray());
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit();
        }
    }

    [Fact]
    public void A_scale_out_role_without_a_reachable_broker_is_a_one_line_error()
    {
        int closed;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            closed = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        InstalledTool.Outcome badRole = tool.Run(_folder, null, "serve", "--role", "leader");
        Assert.True(badRole.ExitCode == 2, badRole.ToString());
        Assert.Contains("'leader'", badRole.Error, StringComparison.Ordinal);

        InstalledTool.Outcome noBroker = tool.Run(_folder, null, "serve", "--role", "worker", "--urls", "http://127.0.0.1:0");
        Assert.True(noBroker.ExitCode == 2, noBroker.ToString());
        Assert.Contains("--rabbitmq", noBroker.Error, StringComparison.Ordinal);

        InstalledTool.Outcome unreachable = tool.Run(_folder, null, "serve", "--role", "front-end", "--rabbitmq", $"amqp://guest:guest@127.0.0.1:{closed}/", "--urls", "http://127.0.0.1:0");
        Assert.True(unreachable.ExitCode == 1, unreachable.ToString());
        Assert.Contains($"127.0.0.1:{closed} cannot be reached: Connection refused", unreachable.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", unreachable.Output + unreachable.Error, StringComparison.Ordinal);
        Assert.Single(unreachable.Error.Trim().Split('\n'));
    }
}
