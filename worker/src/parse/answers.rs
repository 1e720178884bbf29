//! Answers of real models, parsed. `worker/tests/fixtures/smollm2/` holds
//! answers recorded from SmolLM2-135M-Instruct (Q4_1) behind
//! llama-cpp-python's OpenAI-compatible server, in text mode and in JSON
//! mode (`response_format` `json_object` with the items schema), for five
//! topics; `answers.jsonl` is the whole recording (content, finish reason,
//! token counts). The line table adds what larger models and the vendors'
//! documented examples write.

use igentai_protocol::Assignment;

use super::parse_answer;
use crate::prompt::{self, Prompt};

fn prompt(topic: &str) -> Prompt {
    prompt::build(&Assignment {
        v: 1,
        run_id: "r".into(),
        topic: topic.into(),
        partition: None,
        avoid: vec![],
        items_per_request: 20,
        prompt_template: None,
        weights: Default::default(),
    })
}

/// One list line of an answer on `topic`, and the name kept from it.
fn check(topic: &str, line: &str, expected: Option<&str>) {
    let items = parse_answer(&format!("1. {line}\n"), false, &prompt(topic));
    assert_eq!(
        items.first().map(String::as_str),
        expected,
        "{topic}: {line:?}"
    );
    assert!(items.len() <= 1, "{items:?}");
}

#[test]
fn lines_of_real_answers() {
    let cheeses = "rare cheeses";
    let paris = "Paris attractions";
    let jazz = "jazz musicians";
    let elements = "chemical elements";
    let games = "board games";
    for (topic, line, expected) in [
        // From the issue: a fleet run against a small model.
        (
            cheeses,
            "Chabrolia (Italian cheese from Spain and Italy, named after ...)",
            Some("Chabrolia"),
        ),
        (
            cheeses,
            "Chesser, a shortcut cheese from Switzerland",
            Some("Chesser"),
        ),
        (
            cheeses,
            "Brie; cheese with a sweet-and-lacy flavor",
            Some("Brie"),
        ),
        (
            cheeses,
            "Pecorino Romano - A traditional Italian cheese made from sheep's milk",
            Some("Pecorino Romano"),
        ),
        (cheeses, "20 distinct rare cheeses.", None),
        (cheeses, "You produce 20 distinct items.", None),
        (cheeses, "2nd item", None),
        (cheeses, "3rd item", None),
        (cheeses, "Salmaella", Some("Salmaella")),
        (cheeses, "Salmaella (Bergamo, Italy)", Some("Salmaella")),
        (cheeses, "Salmaella (Tuscany, Italy)", Some("Salmaella")),
        (
            cheeses,
            "Chablis (French Cheese of France)",
            Some("Chablis"),
        ),
        (
            paris,
            "Louvre Museum (Musée du Louvre)",
            Some("Louvre Museum"),
        ),
        (
            paris,
            "Eiffel Tower - iconic iron tower",
            Some("Eiffel Tower"),
        ),
        (paris, "The Louvre", Some("The Louvre")),
        // Recorded from SmolLM2-135M (fixtures/smollm2/answers.jsonl).
        (
            cheeses,
            "Chablis (a combination of brie, ciboufleur and a fennel leaf)",
            Some("Chablis"),
        ),
        (cheeses, "Camel (from the camel)", Some("Camel")),
        (
            cheeses,
            "Charcelot-style brie",
            Some("Charcelot-style brie"),
        ),
        (cheeses, "Bruenyaux (French)", Some("Bruenyaux (French)")),
        (
            cheeses,
            "Briète de l'Auclaire-Lioneline-Brie",
            Some("Briète de l'Auclaire-Lioneline-Brie"),
        ),
        (
            paris,
            "L'Auberager de Paris, Paris;",
            Some("L'Auberager de Paris, Paris"),
        ),
        (paris, "Sacré-Cœur Basilica;", Some("Sacré-Cœur Basilica")),
        (paris, "Eiffel Tower (365m)", Some("Eiffel Tower")),
        (
            paris,
            "Notre Dame Cathedral (Eiffel Tower, Notre-Dame de la Corrée)",
            Some("Notre Dame Cathedral"),
        ),
        (
            paris,
            "Arc de Triomphe (Overseement des Rois de France)",
            Some("Arc de Triomphe"),
        ),
        (
            paris,
            "Louvre Museum (Mosque du Louvre, MUSEUR d'Lyon)",
            Some("Louvre Museum"),
        ),
        (
            paris,
            "Casillers (Touristes d'Amour, Touristiques de la Ville Notre Dame)",
            Some("Casillers"),
        ),
        (
            paris,
            "Champs-Elysé́s (Champs-Élysées, Le Grand Vélice)",
            Some("Champs-Elysé́s"),
        ),
        (paris, "The Eiffel Tower", Some("The Eiffel Tower")),
        (paris, "List 20 distinct Paris attractions.", None),
        (paris, "Paris attractions", None),
        (
            jazz,
            "Jonny Baga - New Orleans Jazz, 1953-1967",
            Some("Jonny Baga"),
        ),
        (
            jazz,
            "Jaycee Calderon: Jumbo, 1987-2004",
            Some("Jaycee Calderon"),
        ),
        (
            jazz,
            "Billy Brown: Jazz for the Ani-am, 2004-2005",
            Some("Billy Brown"),
        ),
        (jazz, "Jamaica Jelly, 1975", Some("Jamaica Jelly")),
        (jazz, "Miles Davis (Blowin' the Blows)", Some("Miles Davis")),
        (
            jazz,
            "Miles Davis (MUSHAMES OF THE UNITED STATES)",
            Some("Miles Davis"),
        ),
        (
            jazz,
            "Louis Armstrong (Songwriter)",
            Some("Louis Armstrong (Songwriter)"),
        ),
        (jazz, "Cole Porter, Jr.", Some("Cole Porter, Jr.")),
        (jazz, "Jay-Z", Some("Jay-Z")),
        (jazz, "Mine is a jazz musician named Jack LaBronne.", None),
        (elements, "Element 1 - X-Y Z", None),
        (elements, "Element 2 - A B", None),
        (elements, "Cesium", Some("Cesium")),
        (elements, "Tellurite ", Some("Tellurite")),
        (
            elements,
            "Each element is named with a unique number that allows for easy identification.",
            None,
        ),
        (
            elements,
            "The answer is: 20 elements listed with one item per line",
            None,
        ),
        (games, "\"The Settlers\"", Some("The Settlers")),
        (
            games,
            "The Legend of Zelda 64",
            Some("The Legend of Zelda 64"),
        ),
        (games, "Tokyo 8", Some("Tokyo 8")),
        (games, "boardgame 1", None),
        (games, "20 distinct board games", None),
        (
            games,
            "You will need to create a list with only one item per line, with the first line given as a descriptive name.",
            None,
        ),
        (
            games,
            "In a game of dice, there are indeed 20 distinct board games that exist.",
            None,
        ),
        // Larger models and the vendors' examples.
        (
            paris,
            "**Louvre Museum**: The world's largest art museum and a historic monument.",
            Some("Louvre Museum"),
        ),
        (
            paris,
            "**Sainte-Chapelle** – Gothic chapel with stained glass",
            Some("Sainte-Chapelle"),
        ),
        (paris, "Musée d'Orsay", Some("Musée d'Orsay")),
        (paris, "Paris, Texas", Some("Paris, Texas")),
        (
            paris,
            "Montmartre, the hilltop artists' district",
            Some("Montmartre"),
        ),
        (
            paris,
            "Le Marais, a historic district with narrow streets",
            Some("Le Marais"),
        ),
        (
            paris,
            "Centre Pompidou (modern art museum)",
            Some("Centre Pompidou"),
        ),
        (
            paris,
            "Jardin du Luxembourg (Luxembourg Gardens)",
            Some("Jardin du Luxembourg"),
        ),
        (paris, "...", None),
        (paris, "etc.", None),
        (paris, "[attraction]", None),
        (paris, "N/A", None),
        (paris, "Item 3", None),
        ("films", "Toy Story 2", Some("Toy Story 2")),
        ("films", "Amélie (2001)", Some("Amélie (2001)")),
        ("films", "Solaris (1972 film)", Some("Solaris (1972 film)")),
        (
            "films",
            "2001: A Space Odyssey",
            Some("2001: A Space Odyssey"),
        ),
        (
            "films",
            "Star Wars: Episode IV - A New Hope",
            Some("Star Wars: Episode IV - A New Hope"),
        ),
        (
            "films",
            "It's a Wonderful Life",
            Some("It's a Wonderful Life"),
        ),
        (
            "films",
            "The Good, the Bad and the Ugly",
            Some("The Good, the Bad and the Ugly"),
        ),
        (
            "words with several meanings",
            "Mercury (planet)",
            Some("Mercury (planet)"),
        ),
        (
            "words with several meanings",
            "Mercury (element)",
            Some("Mercury (element)"),
        ),
        (
            "words with several meanings",
            "Georgia (U.S. state)",
            Some("Georgia (U.S. state)"),
        ),
        (
            cheeses,
            "<script>alert(1)</script>",
            Some("<script>alert(1)</script>"),
        ),
    ] {
        check(topic, line, expected);
    }
}

/// Whole recorded answers: list shapes, preambles, letters as markers,
/// answers cut at the output limit, and JSON from constrained decoding.
#[test]
fn recorded_answers() {
    let fixture = |topic: &str, text: &str, truncated: bool, expected: &[&str]| {
        assert_eq!(
            parse_answer(text, truncated, &prompt(topic)),
            expected,
            "{text}"
        );
    };
    fixture(
        "chemical elements",
        include_str!("../../tests/fixtures/smollm2/elements-text-3.txt"),
        false,
        &[
            "Cesium",
            "Fluorine",
            "Goldeneye",
            "Magnesium",
            "Lead",
            "Chlorine",
            "Chromium",
            "Strontium",
            "Tellurite",
            "Helium",
            "Calcium",
            "Iron",
            "Chromate",
            "Uranium",
            "Selenium",
            "Carbon",
            "Krypton",
            "Chlorine",
            "Barbitur",
            "Tellurite",
        ],
    );
    let cheeses = parse_answer(
        include_str!("../../tests/fixtures/smollm2/cheeses-text-4.txt"),
        false,
        &prompt("rare cheeses"),
    );
    assert_eq!(
        (cheeses.len(), &cheeses[..3]),
        (
            23,
            &["Feta", "Mozzarella di Cola", "Brie"].map(String::from)[..]
        )
    );
    fixture(
        "jazz musicians",
        include_str!("../../tests/fixtures/smollm2/jazz-text-1-cut.txt"),
        true,
        &[
            "Jonny Baga",
            "Amanita",
            "Jaycee Calderon",
            "Buddy Ciano",
            "Jonny Baga: Ajolada",
            "Jamaica Jelly",
            "Dreaming",
            "Gabrielle Mauresco",
            "Billy Brown",
            "Cassio",
            "Sinatra",
            "Jaycee Calderon",
            "Djonny Baga",
        ],
    );
    fixture(
        "Paris attractions",
        include_str!("../../tests/fixtures/smollm2/paris-text-4-cut.txt"),
        true,
        &[
            "Eiffel Tower",
            "Louvre Museum",
            "Notre Dame Cathedral",
            "Arc de Triomphe",
            "Notre Dame Cathedral",
            "Louvre Museum",
            "Casillers",
            "Palais-Royal des Invalides (Palais-mausolus-de-Roubaix)",
            "Champs-Elysé́s",
        ],
    );
    let games = parse_answer(
        include_str!("../../tests/fixtures/smollm2/board-games-text-2.txt"),
        false,
        &prompt("board games"),
    );
    assert_eq!(
        (games.len(), games[0].as_str()),
        (16, "Dungeon Master Edition")
    );
    fixture(
        "Paris attractions",
        include_str!("../../tests/fixtures/smollm2/paris-json-1.json"),
        false,
        &[
            "Barcelona",
            "Tuscan Eagles",
            "St. Paul Cathedral",
            "Orange Jubilee",
            "Pope's Palace",
            "Champagne, Parma",
            "Saints and Daughters of Notre-Dame",
        ],
    );
    fixture(
        "board games",
        include_str!("../../tests/fixtures/smollm2/board-games-json-1.json"),
        false,
        &[],
    );
    fixture(
        "jazz musicians",
        include_str!("../../tests/fixtures/smollm2/jazz-json-1.json"),
        false,
        &[
            "Sammy Cal Dias",
            "Jay-Z",
            "Cole Porter, Jr.",
            "John Kerry, Jr.",
        ],
    );
    // Constrained decoding cut at the limit, and debris strings; a string
    // is a name as given, a number in front of it included.
    fixture(
        "rare cheeses",
        r#"{ "items": ["Mascarpone", "Prosciutra", "Vatik"#,
        true,
        &["Mascarpone", "Prosciutra"],
    );
    fixture(
        "rare cheeses",
        r#"{"items": ["){", "]", "Brie", "1. Comté", ""]}"#,
        false,
        &["Brie", "1. Comté"],
    );
}

/// Every recorded answer parses to names that are not the prompt's words.
#[test]
fn the_whole_recording() {
    let text = include_str!("../../tests/fixtures/smollm2/answers.jsonl");
    let mut items = 0;
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
        let topic = row["topic"].as_str().expect("topic");
        let truncated = row["finish_reason"] == "length";
        let answer = row["content"].as_str().expect("content");
        for item in parse_answer(answer, truncated, &prompt(topic)) {
            let lower = item.to_lowercase();
            assert!(
                !lower.contains("distinct") && !lower.starts_with("list "),
                "{item}"
            );
            items += 1;
        }
    }
    assert_eq!(text.lines().count(), 40);
    assert!(items >= 200, "{items} items");
}
